"""The comparison report that stage=aggregate builds, a module per idea:

    collect.py     run folders -> runs: status, metrics, provenance, failure, loss curve
    curves.py      time to a target loss, read off the curves
    metrics.py     the registry: metric name -> axis, better direction, unit, label
    stats.py       means with t intervals, paired t-tests across seeds, Holm's correction
    recommend.py   the recommendation, generated from the rankings and tests
    provenance.py  model facts, runtimes, code and data versions, missing runs
    tables.py      CSV and Parquet tables
    plots.py       PNG plots
    sections.py    what the report says, as blocks
    document.py    blocks -> Markdown;  html.py  blocks -> one self-contained HTML page
    build.py       all of it, run folders in, report/ out
"""
