"""The leaderboard, a pure function of result files, and its renderings: terminal (in the CLI), Markdown, JSON, one
self-contained HTML file; exports to benchmark servers' formats."""
