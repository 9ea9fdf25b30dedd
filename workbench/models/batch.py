"""Token-id rows of different lengths as one padded batch."""

from __future__ import annotations


def padded(rows, pad_id: int, *, left: bool = False):
    """(ids, attention mask), both (B, T) long tensors on the CPU, T the longest row.

    rows: token ids, each a list or a 1-D tensor. Padding goes after each row (as training and
    scoring read them: the last real token is at attention.sum(1) - 1), or before it when `left`
    (as generation needs: every row's next token is at the end).
    """
    import torch
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        span = slice(width - len(row), width) if left else slice(0, len(row))
        ids[i, span], attention[i, span] = torch.as_tensor(row, dtype=torch.long), 1
    return ids, attention
