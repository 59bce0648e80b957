"""Reports: Markdown, self-contained HTML, CSV and plots."""
