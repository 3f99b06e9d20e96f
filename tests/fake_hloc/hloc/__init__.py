"""A stand-in for hloc in vloc's tests: the pipeline functions `vloc benchmark versus-hloc` calls, with hloc's
signatures, done by vloc's stages (SIFT at the images' own size, as hloc's DoG); every call is recorded."""

CALLS: list[tuple[str, tuple, dict]] = []


def record(function: str, *args, **kwargs) -> None:
    CALLS.append((function, args, kwargs))
