"""Listing MLflow runs without a cut: every page of a search, followed by its ``page_token``.

``search_runs(max_results=N)`` returns at most N runs and says nothing when more matched, so a
study larger than N would silently lose trials. :func:`search_all_runs` asks for pages of
``page_size`` runs and follows ``PagedList.token`` until the store has no more.
"""

from __future__ import annotations

#: Runs per request: MLflow's own default page (a server accepts up to 50,000 per request, but a
#: SQL store answers large pages no faster, and a small page keeps each response small).
PAGE_SIZE = 1000


def search_all_runs(client, experiment_ids: list[str], filter_string: str = "", page_size: int | None = None,
                    order_by: list[str] | None = None) -> list:
    """Every run matching ``filter_string`` in ``experiment_ids``, in pages of ``page_size``
    (default :data:`PAGE_SIZE`)."""
    page_size = page_size or PAGE_SIZE
    runs: list = []
    token = None
    while True:
        page = client.search_runs(experiment_ids, filter_string, max_results=page_size, order_by=order_by,
                                  page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs
