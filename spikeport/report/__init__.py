"""Energy reports: the document (report.json), its inputs, PNG plots, Markdown and HTML."""
