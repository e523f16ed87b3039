"""Template filters of our own."""

from __future__ import annotations

import json

from django import template
from django.core.serializers.json import DjangoJSONEncoder

register = template.Library()


@register.filter
def json_attr(value) -> str:
    """`value` as JSON for a data attribute (autoescaping makes it safe there). Not json_script: a page's
    htmx swaps drop every <script> of the new content (allowScriptTags is off), data blocks included."""
    return json.dumps(value, cls=DjangoJSONEncoder, separators=(",", ":"))
