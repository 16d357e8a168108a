"""mhcompare: fine-tune, evaluate, judge and compare chat LLMs on counselling dialogues."""
__version__ = "0.1.0"
