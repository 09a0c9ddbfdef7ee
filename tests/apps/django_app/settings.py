"""Settings of the test project: no database, no apps, debug off (the production pages)."""

SECRET_KEY = "porch-tests-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.apps.django_app.urls"
INSTALLED_APPS: list[str] = []
# CommonMiddleware sets Content-Length on whole responses, as most Django projects have it.
# porch_route names the route for porch's metrics (tests/server/test_metrics.py).
MIDDLEWARE = [
    "tests.apps.django_app.middleware.porch_route",
    "django.middleware.common.CommonMiddleware",
]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
