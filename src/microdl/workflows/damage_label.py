"""``microdl damage label``: a small local web server for labelling the store's sites in a browser.

The page (:mod:`microdl.workflows.damage_label_page`) shows one site at a time: its crop
and the crop in a wider context with the site's box, a button per class with keyboard
shortcuts (1-9 in button order, ``s`` to skip, ``z`` to undo the last label), the
annotator's name, the counts per class and the agreement between annotators (Cohen's
kappa per pair). Every label is one appended row of the store (annotator and time), so
two people labelling at once on a shared PostgreSQL store never overwrite each other.

JSON API (used by the page, handy for scripts): ``GET /api/next?annotator=A&after=ID`` (the
next site A has not labelled), ``GET /api/crop/<site>.png?size=S&context=0|1``,
``POST /api/label`` ``{"site_id", "label", "annotator"}``, ``POST /api/undo``
``{"annotator"}``, ``GET /api/stats``. The server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np

from microdl.exceptions import InvalidParameterError, MicrodlError

__all__ = ["DEFAULT_CLASSES", "LabelServer", "make_server"]

DEFAULT_CLASSES = ("inclusion", "martensite", "interface", "notch", "shadow", "not damage")


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def _to_uint8(crop: np.ndarray) -> np.ndarray:
    if crop.dtype == np.uint8:
        return crop
    return (crop.astype(np.float64) / 257.0).clip(0, 255).astype(np.uint8)


class LabelServer:
    """The labelling logic behind the HTTP handler (testable without a browser)."""

    def __init__(self, store, *, classes: tuple[str, ...] = DEFAULT_CLASSES, crop: int = 96,
                 context: int = 320) -> None:
        if not classes or len(set(classes)) != len(classes):
            raise InvalidParameterError(f"classes must be distinct names, got {list(classes)}")
        self.store, self.classes, self.crop, self.context = store, tuple(classes), int(crop), int(context)
        self._lock = threading.Lock()  # the crop cache; the store itself is safe across threads
        self._cache: dict[tuple[int, int, bool], bytes] = {}

    def next_site(self, annotator: str, after: int = 0) -> dict | None:
        """The first site (id above ``after``, wrapping around) that ``annotator`` has not labelled yet."""
        if not annotator:
            raise InvalidParameterError("annotator must be a non-empty name")
        sites = self.store.sites()
        todo = [s for s in sites if annotator not in s["annotations"]]
        if not todo:
            return None
        pick = next((s for s in todo if s["id"] > after), todo[0])
        return self._info(pick, remaining=len(todo), total=len(sites))

    def _info(self, site: dict, *, remaining: int | None, total: int | None) -> dict:
        img = self.store.image(site["image_id"])
        return {"site_id": site["id"], "image": img["name"], "sample": img["sample"], "strain": img["strain"],
                "x": site["x"], "y": site["y"], "area_px": site["area_px"], "annotations": site["annotations"],
                "remaining": remaining, "total": total}

    def crop_png(self, site_id: int, size: int | None = None, context: bool = False) -> bytes:
        """A PNG of the site's crop (``context``: a wider view with the site's box drawn)."""
        from microdl.analysis.damage_candidates import site_crops

        size = int(size or (self.context if context else self.crop))
        if not 16 <= size <= 2048:
            raise InvalidParameterError(f"size must be 16..2048 px, got {size}")
        key = (site_id, size, context)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        rows = self.store.sites(site_ids=[site_id])
        if not rows:
            raise InvalidParameterError(f"no site {site_id} in the store")
        s = rows[0]
        with self.store.open_image(s["image_id"]) as pano:
            crop = _to_uint8(site_crops(pano, [s], size)[0])
        if context:
            crop = np.repeat(crop[..., None], 3, axis=2)
            cx, cy = int(round(s["x"])) - size // 2, int(round(s["y"])) - size // 2
            x0, y0 = max(s["x0"] - cx - 3, 0), max(s["y0"] - cy - 3, 0)
            x1, y1 = min(s["x1"] - cx + 2, size - 1), min(s["y1"] - cy + 2, size - 1)
            for ys, xs in ((slice(y0, y1 + 1), x0), (slice(y0, y1 + 1), x1), (y0, slice(x0, x1 + 1)),
                           (y1, slice(x0, x1 + 1))):
                crop[ys, xs] = (255, 200, 0)
        data = _png(crop)
        with self._lock:
            if len(self._cache) > 512:
                self._cache.clear()
            self._cache[key] = data
        return data

    def label(self, site_id: int, label: str, annotator: str) -> dict:
        if label not in self.classes:
            raise InvalidParameterError(f"label must be one of {list(self.classes)}, got {label!r}")
        self.store.add_labels([(int(site_id), label)], annotator=annotator, source="browser")
        return {"ok": True, "site_id": int(site_id), "label": label}

    def undo(self, annotator: str) -> dict:
        """The annotator's last labelled site, to label again (the earlier row stays in the history)."""
        rows = [r for r in self.store.labels(annotator=annotator) if r["source"] == "browser"]
        if not rows:
            return {"site": None}
        site = self.store.sites(site_ids=[rows[-1]["site_id"]])[0]
        return {"site": self._info(site, remaining=None, total=None)}

    def stats(self) -> dict:
        from microdl.analysis.agreement import pairwise_kappa

        sites = self.store.sites()
        counts = dict.fromkeys(self.classes, 0)
        per_annotator: dict[str, int] = {}
        for s in sites:
            if s["label"]:
                counts[s["label"]] = counts.get(s["label"], 0) + 1
            for a in s["annotations"]:
                per_annotator[a] = per_annotator.get(a, 0) + 1
        latest = {s["id"]: s["annotations"] for s in sites if s["annotations"]}
        return {"n_sites": len(sites), "n_labelled": len(latest), "counts": counts, "annotators": per_annotator,
                "kappa": pairwise_kappa(latest), "classes": list(self.classes)}


def _handler(app: LabelServer, page: str):
    class Handler(BaseHTTPRequestHandler):
        server_version = "microdl-label"

        def log_message(self, *args) -> None:  # quiet: the CLI prints the address once
            pass

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, obj, code: int = 200) -> None:
            self._send(code, json.dumps(obj).encode(), "application/json")

        def _guard(self, fn) -> None:
            try:
                fn()
            except MicrodlError as exc:
                self._json({"error": str(exc)}, 400)
            except (ValueError, KeyError, TypeError) as exc:
                self._json({"error": f"bad request: {exc}"}, 400)

        def do_GET(self) -> None:  # noqa: N802  (http.server's name)
            url = urlparse(self.path)
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if url.path in ("/", "/index.html"):
                return self._send(200, page.encode(), "text/html; charset=utf-8")
            if url.path == "/api/next":
                return self._guard(lambda: self._json({"site": app.next_site(q.get("annotator", ""),
                                                                             int(q.get("after", 0)))}))
            if url.path == "/api/stats":
                return self._guard(lambda: self._json(app.stats()))
            if url.path.startswith("/api/crop/") and url.path.endswith(".png"):
                site = int(url.path[len("/api/crop/"):-4])
                return self._guard(lambda: self._send(200, app.crop_png(site, int(q["size"]) if "size" in q else None,
                                                                        q.get("context") == "1"), "image/png"))
            self._json({"error": f"no such page {url.path}"}, 404)

        def do_POST(self) -> None:  # noqa: N802
            def run() -> None:
                n = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(n) or b"{}")
                if self.path == "/api/label":
                    self._json(app.label(int(body["site_id"]), str(body["label"]), str(body["annotator"])))
                elif self.path == "/api/undo":
                    self._json(app.undo(str(body["annotator"])))
                else:
                    self._json({"error": f"no such endpoint {self.path}"}, 404)

            self._guard(run)

    return Handler


def make_server(store, *, port: int = 8765, classes: tuple[str, ...] = DEFAULT_CLASSES, annotator: str = "",
                crop: int = 96, context: int = 320) -> ThreadingHTTPServer:
    """A threaded HTTP server on 127.0.0.1:``port`` (0: a free port); call ``serve_forever()``."""
    from microdl.workflows.damage_label_page import render_page

    app = LabelServer(store, classes=classes, crop=crop, context=context)
    try:
        server = ThreadingHTTPServer(("127.0.0.1", int(port)), _handler(app, render_page(app.classes, annotator)))
    except OSError as exc:
        raise InvalidParameterError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); "
                                    "choose another --port") from None
    server.daemon_threads = True
    server.app = app  # type: ignore[attr-defined]
    return server
