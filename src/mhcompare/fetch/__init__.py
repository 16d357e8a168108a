"""stage=fetch: each model's files once, into one shared models folder, with a manifest.

    hub (ModelScope / Hugging Face, pinned revision) or a local folder
        ──download or copy──> <paths.models>/.<name>.partial/ ──repairs──> checksums + manifest
        ──rename──> <paths.models>/<name>/   (what training, serving and token counting read)

See fetch/manifest.py for the manifest, fetch/repairs.py for what is repaired in the copy.
"""
