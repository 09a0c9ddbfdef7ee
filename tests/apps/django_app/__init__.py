"""The battery's Django project: settings, views and URLs, served as WSGI or ASGI."""
