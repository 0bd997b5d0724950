"""User-interface helpers of the Gradio app (``app.py``): configuration, texts, safe image
loading, the lazy model service and HTML/Markdown formatting.

Nothing in this package loads a model at import time; see ``ui.service`` for the
background loader. Run the app with ``python app.py`` (or ``gradio app.py``).
"""
