"""The application's settings: a typed object (a msgspec Struct) read from the environment and
a `.env` file.

```python
class Config(Settings):
    page_size: int = 20              # PAGE_SIZE=50 in the environment or .env overrides it
    api_key: Secret[str]             # required; never shown in a repr, a log or the debug page

app = App(__name__, settings=Config) # app.settings; a parameter annotated Config gets it
```

A field is read from the variable named like it in upper case, after the class's
`env_prefix` (`env_prefix = "SHOP_"`: SHOP_PAGE_SIZE). The environment wins over `.env`
(KEY=value lines; `#` comments; quotes and `export ` allowed). Scalars are read from their
text (`1`, `true`, `2026-12-06`); lists, dicts and structs from JSON. A value that does not fit
stops the application with a SettingsError that names the variable. These are the
application's own settings; the server's are porch.server.settings.
"""

import os
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, Self, TypeVar

import msgspec

T = TypeVar("T")
_MASK = "********"


class SettingsError(Exception):
    """A setting's value does not fit its type; the message names the variable."""


class Secret(Generic[T]):
    """A value that is never shown: its repr and str are masked; `.reveal()` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value = value

    def reveal(self) -> T:
        """The secret value itself."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _decode(kind: Any, value: Any) -> Any:
    """msgspec's hook for the types it does not know: Secret[T]."""
    if kind is Secret or typing.get_origin(kind) is Secret:
        if isinstance(value, Secret):
            return value
        args = typing.get_args(kind)
        inner = args[0] if args else str
        return Secret(msgspec.convert(value, inner, strict=False, dec_hook=_decode))
    raise TypeError(f"type {kind!r} is not supported")  # msgspec: a ValidationError


class Settings(msgspec.Struct, kw_only=True):
    """Typed settings read from the environment and a .env file (see the module's doc)."""

    env_prefix: ClassVar[str] = ""

    debug: bool = False
    # The database (porch.db): where (default: SQLite beside the application), and how.
    database_url: str | None = None
    database_pool_size: int = 5
    database_max_overflow: int = 10
    database_pool_timeout: float = 10.0  # seconds to wait for a pooled connection (then 503)
    database_pool_pre_ping: bool = True
    database_statement_timeout: float | None = None  # seconds (PostgreSQL, MySQL)
    database_echo: bool = False  # log every statement

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        env_file: str | os.PathLike[str] | None = ".env",
    ) -> Self:
        """The settings from `environ` (os.environ) over `env_file` (if it exists)."""
        values = read_env_file(env_file) if env_file is not None else {}
        values.update(os.environ if environ is None else environ)
        raw: dict[str, Any] = {}
        for field in msgspec.structs.fields(cls):
            variable = cls.env_prefix + field.encode_name.upper()
            if variable not in values:
                continue
            text = values[variable]
            try:
                raw[field.name] = _read(text, field.type)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                shown = _MASK if _is_secret(field.type) else text  # not even in an error
                raise SettingsError(f"{variable}={shown!r}: {exc}") from None
        try:
            return msgspec.convert(raw, cls, strict=False, dec_hook=_decode)
        except msgspec.ValidationError as exc:
            raise SettingsError(_naming_the_variable(cls, str(exc))) from None

    def __repr__(self) -> str:
        shown = ", ".join(f"{field}={getattr(self, field)!r}" for field in self.__struct_fields__)
        return f"{type(self).__name__}({shown})"


def _read(text: str, kind: Any) -> Any:
    """A setting's value from its text: scalars as they are written, the rest as JSON."""
    from porch.web.signature import is_scalar, strip_optional

    inner = strip_optional(kind)
    if typing.get_origin(inner) is Secret or inner is Secret:
        inner = (typing.get_args(inner) or (str,))[0]
    if is_scalar(inner) or inner is Any:
        return msgspec.convert(text, kind, strict=False, dec_hook=_decode)
    return msgspec.json.decode(text.encode(), type=kind, strict=False, dec_hook=_decode)


def _is_secret(kind: Any) -> bool:
    """Whether a type is, or holds, a Secret."""
    return (
        kind is Secret
        or typing.get_origin(kind) is Secret
        or any(_is_secret(arg) for arg in typing.get_args(kind))
    )


def _naming_the_variable(cls: type[Settings], message: str) -> str:
    """msgspec's message, with the field's path (`$.page_size`) as its variable's name."""
    marker = " - at `$."
    if marker in message:
        message, _, where = message.partition(marker)
        name = where.rstrip("`").split(".")[0].split("[")[0]
        return f"{cls.env_prefix}{name.upper()}: {message}"
    if message.startswith("Object missing required field `"):
        name = message.split("`")[1]
        return f"{cls.env_prefix}{name.upper()} is required and not set"
    return message


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """The KEY=value pairs of a .env file ({} if there is none)."""
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, equals, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or not key.replace("_", "").isalnum():
            raise SettingsError(f"{os.fspath(path)}, line {number}: expected KEY=value")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()  # a comment after an unquoted value
        values[key] = value
    return values
