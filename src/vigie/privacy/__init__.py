"""Privacy by design: IP truncation and pseudonymised visitor ids at the door, retention per
data class, consent checked at use, and the data subject's export and erasure."""

from vigie.privacy.config import PrivacyConfig
from vigie.privacy.retention import RetentionPurge
from vigie.privacy.subjects import DataSubjects, Erasure, PrivacyError, SubjectNotFound

__all__ = [
    "DataSubjects",
    "Erasure",
    "PrivacyConfig",
    "PrivacyError",
    "RetentionPurge",
    "SubjectNotFound",
]
