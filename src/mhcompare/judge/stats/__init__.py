"""The Human Judge's statistics: bootstrap intervals, agreement, Bradley-Terry, and human_judge_analysis.md."""
