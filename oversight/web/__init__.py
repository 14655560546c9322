"""The local web app: human judges judging games in the browser, and pages for watching run folders.

Imported only by `oversight serve` and `oversight judge --judge web`, so the rest of the command line never
loads starlette or uvicorn.
"""
