"""The text expert: vfx.text_overlay from the burnt-in text score (:mod:`pipeline.scores.text`).

The score's ``text_kind`` maps onto the taxonomy's values with a confidence near the precision measured per
labelled shot (the 28 development clips and 10 synthetic videos, decoded with the text scorer's stills as
:meth:`annotator.caption.AniCaption.annotate_video` does): ``subtitle`` 0.85 (27 of 30 right); ``none`` 0.85
(100 of 114: the score misses small or thin subtitles -- text below ~3 thumb pixels is not resolved);
``title_card`` 0.55 (3 of 5); ``credits`` 0.6 (1 of 1: too few to say more). The score's ``watermark`` is a
static corner mark, which is a broadcaster logo bug as often as a watermark (the 7 labelled development shots
are logos, the 19 synthetic ones watermarks): the expert abstains on it rather than pick one. The score is
reused when the scoring stage already ran (``ShotInput.scores``), otherwise computed on the shared frames.
"""

from __future__ import annotations

from annotator.base import ExpertOutput, ShotInput

#: text_kind -> (vfx.text_overlay value, confidence)
KIND_VALUES: dict[str, tuple[str, float]] = {
    "subtitle": ("subtitle", 0.85),
    "title_card": ("title_card", 0.55),
    "credits": ("credits", 0.6),
    "none": ("none", 0.85),
}
#: text_kind values the expert abstains on, with the reason.
AMBIGUOUS_KINDS = {
    "watermark": "a static corner mark: a logo bug or a watermark, which thumbs cannot tell apart",
}


class TextExpert:
    """Votes vfx.text_overlay from the text score's kind."""

    name = "text"
    fields = ("vfx.text_overlay",)

    def __init__(self, priority: int = 1) -> None:
        self.priority = priority

    def annotate(self, shot: ShotInput) -> ExpertOutput:
        out = ExpertOutput()
        if shot.scores is not None and shot.scores.text_share is not None:
            kind, area, share = shot.scores.text_kind, shot.scores.text_area, shot.scores.text_share
        else:
            from pipeline.scores.text import score_text

            row = score_text(shot.view)
            kind, area, share = row["text_kind"], row["text_area"], row["text_share"]
        if share is None:
            out.abstain("vfx.text_overlay", self.name, "picture too small to look for text")
            return out
        if kind in AMBIGUOUS_KINDS:
            out.abstain("vfx.text_overlay", self.name, AMBIGUOUS_KINDS[kind])
            return out
        if kind not in KIND_VALUES:
            out.abstain("vfx.text_overlay", self.name, f"text score kind {kind!r} has no taxonomy value")
            return out
        value, conf = KIND_VALUES[kind]
        out.vote("vfx.text_overlay", value, conf, self.name, text_area=area or 0.0, text_share=share)
        return out
