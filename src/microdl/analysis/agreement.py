"""Agreement between annotators: Cohen's kappa for every pair, on the sites both labelled."""

from __future__ import annotations

from itertools import combinations

__all__ = ["pairwise_kappa"]


def pairwise_kappa(latest: dict[int, dict[str, str]]) -> list[dict]:
    """Cohen's kappa of every pair of annotators.

    Parameters
    ----------
    latest
        ``{site: {annotator: label}}`` (each annotator's latest label of each site).

    Returns
    -------
    list of dict
        ``{"a", "b", "n_sites", "agreement", "kappa"}`` per pair that shares at least one site;
        ``kappa`` is ``None`` when it is undefined (both gave one and the same label to every
        shared site, so chance agreement is 1).

    References
    ----------
    Cohen, J. (1960). A coefficient of agreement for nominal scales. Educ. Psychol. Meas. 20, 37-46.
    """
    from sklearn.metrics import cohen_kappa_score

    annotators = sorted({a for labels in latest.values() for a in labels})
    out = []
    for a, b in combinations(annotators, 2):
        pairs = [(lab[a], lab[b]) for lab in latest.values() if a in lab and b in lab]
        if not pairs:
            continue
        ya, yb = zip(*pairs, strict=True)
        agreement = sum(x == y for x, y in pairs) / len(pairs)
        if len(set(ya) | set(yb)) == 1:
            kappa = None
        else:
            kappa = float(cohen_kappa_score(ya, yb))
        out.append({"a": a, "b": b, "n_sites": len(pairs), "agreement": agreement, "kappa": kappa})
    return out
