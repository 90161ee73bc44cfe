"""Views replay traces: widgets, drawings and plain text. They never call a kernel model."""
