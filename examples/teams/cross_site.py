"""Refuse requests that change something when another site's page made the browser send them
(cross-site request forgery).

A page anywhere can hold a form that posts to this site, and a browser sends it without asking
the site first. Browsers say where such a request comes from: `Sec-Fetch-Site` (every browser
since 2023), else `Origin`. A request that carries neither did not come from a browser that
another site could drive (curl, a script), and passes. The same rules as Go's
`http.CrossOriginProtection`; no token to keep, since the site has no sessions to protect.
"""

from urllib.parse import urlsplit

from porch import Request, abort

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Sec-Fetch-Site values of requests this site's own pages made, or the user typed or bookmarked.
OWN = frozenset({"same-origin", "none"})


def refuse_cross_site(request: Request) -> None:
    """A before_request hook: 403 for a POST (PUT, DELETE...) that another site sent."""
    if request.method in SAFE_METHODS:
        return
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site not in OWN:
            abort(403, f"Refused: the browser says this request came from a {fetch_site} page.")
        return
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc.lower() != request.host.lower():
        # "null" too: a sandboxed frame, or a page the browser will not name.
        abort(403, "Refused: the browser says this request came from another site.")
