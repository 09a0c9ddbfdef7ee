"""TLS: the server's SSL context from a certificate and key."""

import ssl

from porch.server.settings import Settings


def make_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """A server context for --ssl-certfile/--ssl-keyfile (ALPN http/1.1), or None without."""
    if not settings.ssl_certfile:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(
            settings.ssl_certfile, settings.ssl_keyfile, settings.ssl_keyfile_password
        )
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"Could not load the TLS certificate or key: {exc}") from None
    context.set_alpn_protocols(["http/1.1"])
    return context
