"""The improvement loop's weekly review: the week's KPIs against their targets, its alerts and
what was done about them, the measured effects, the right-to-disconnect record and the
sensors, as data (`weekly.py`) and as an HTML or PDF report (`render.py`)."""

from vigie.review.weekly import ReviewError, ReviewSources, WeeklyReview, WeeklyReviews, week_bounds

__all__ = ["ReviewError", "ReviewSources", "WeeklyReview", "WeeklyReviews", "week_bounds"]
