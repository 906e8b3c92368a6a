"""``restorable serve``: a local web page to edit, restore and compare photos in the browser.

    browser ──upload──► 127.0.0.1 (Gradio) ──► models.load(name).apply / .restore ──► files
            ◄─slider, sheet, downloads (PNG / JPEG with the same record as the CLI writes)─┘

The page calls the same API as the CLI (:mod:`restorable.web.app`); the subcommand lives in
:mod:`restorable.web.serve`. Gradio is an optional extra, imported only when serving; nothing
on the page is fetched from, or reported to, anywhere but the local server.
"""
