"""stage=fetch: each model's files once, into one shared models folder, with a manifest.

    hub (ModelScope / Hugging Face, at the commit the revision resolves to) or a local folder
        ──download or copy──> <paths.models>/.<name>.partial/ ──repairs──> checks ──> checksums + manifest
        ──rename──> <paths.models>/<name>/   (what training, serving and token counting read)

fetch/folder.py: the lock, staging folder and rename (models, benchmark data, the data set);
fetch/download.py: hub downloads and the copy that never links; fetch/revision.py: the commit;
fetch/repairs.py: what is repaired in the copy; fetch/verify.py: what a folder must be to run;
fetch/manifest.py: the manifest every later stage reads.
"""
