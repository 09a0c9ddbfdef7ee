"""The framework scenarios' applications: one module per framework, all doing the same thing."""
