"""cotation: score and rank social-housing applications from a declarative YAML grid."""

__version__ = "0.1.0"
