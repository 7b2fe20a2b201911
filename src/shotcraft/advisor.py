"""The decision guide as a function: given the assets a user has and what they want, which workflow fits
(invent, transform, or invent-then-transform), why, and the settings to start from.

Everything the advisor knows is written as data in this module, in the order it is used:

1. ``GOAL_INTENTS`` reads the free-text goal: each intent is a list of phrase patterns (with synonyms)
   over normalised text. ``RELIGHT_PRESET_WORDS``, ``LOOK_WORDS``, ``MARKET_NAMES`` and ``ASPECT_WORDS``
   pick values out of the same text.
2. The assets add facts of their own (``clip``, ``image``, ``keyframes``, ``product``, ...).
3. ``WORKFLOW_RULES`` picks the workflow from those facts; the first rule that matches wins, and its
   reason (from ``REASONS``) leads the answer.
4. ``FACT_REASONS`` explains each recognised intent, and ``TRANSFORM_SETTINGS`` gives each intent's
   suggested transform settings, merged by one rule: adherence takes the highest asked for, strength the
   most permissive an operation needs (locks and adherence protect the rest), locks are pooled.

The settings are partially filled :class:`~shotcraft.spec.TransformSpec` / :class:`~shotcraft.spec.GenerateSpec`
mappings in the spec's own vocabulary; what only the user can supply (a swap's corners, the markets) is a step.

>>> advice = advise(Assets(prompt="a lighthouse in a storm"), goal="we're still brainstorming the opening shot")
>>> advice.workflow, advice.settings["generate"]["takes"], advice.settings["generate"]["quality"]
('invent', 4, 'draft')
>>> from shotcraft.media.samples import sample_clip
>>> advice = advise(Assets(clip=sample_clip("bikes")), goal="The take is great, just relight it for golden hour")
>>> advice.workflow, advice.settings["transform"]["operations"]
('transform', [{'op': 'relight', 'preset': 'golden_hour'}])
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from shotcraft.errors import MediaError
from shotcraft.media.probe import VideoInfo, probe
from shotcraft.spec import (
    MAX_KEYFRAMES,
    STRENGTH_LEVELS,
    GenerateSpec,
    SpecError,
    TimePoint,
    TransformSpec,
    parse_time_point,
)

Workflow = Literal["invent", "transform", "invent-then-transform"]

#: One diffusion window: Wan 2.x makes 81 frames at 16 fps, LTX-Video 121 frames at 24 fps, both about
#: five seconds. A longer clip runs in overlapping sliding windows (or on the classic engine, any length).
DIFFUSION_WINDOW_SECONDS = 5.0

DEFAULT_TAKES = 2
EXPLORE_TAKES = 4


# ---------------------------------------------------------------------------------------------------------
# 1. Reading the goal. Patterns run on normalised text: lower case, no accents, no apostrophes
#    ("don't" -> "dont"), every other non-word character a single space (":" and "%" kept for "9:16").

#: Words for a piece of footage a user may already have (singular or plural).
_HAD = (
    r"(footage|clip|video|take|shot|plate|interview|ad|advert|spot|commercial|scene|film|reel|edit|sequence|"
    r"trailer|teaser|promo|vlog|recording|material)s?"
)

GOAL_INTENTS: dict[str, tuple[str, ...]] = {
    # what is worth keeping in the source
    "performance": (
        r"\bperformances?\b",
        r"\bacting\b",
        r"\b(actor|actress|talent|presenter|cast|dancer)s?\b",
        r"\b(facial )?expressions?\b",
        r"\blip ?sync",
        r"\bdelivery\b",
        r"\bline reading",
    ),
    "timing": (
        r"\btiming\b",
        r"\b(already|been|is|was) (cut|edited|locked|conformed)\b",
        r"\b(locked|final|picture) (edit|cut)\b",
        r"\b(edit|cut) is (final|locked|done|finished|signed off)\b",
        r"\bpicture lock",
        r"\b(fits?|fit into|slot into|drop into|drops into|match) (the |our |my )?(edit|cut|timeline|sequence)\b",
        r"\b(keep|same|exact|original) (the )?(duration|length|frame count|runtime|frame rate|fps)\b",
        r"\bin the (edit|timeline)\b",
    ),
    "camera": (
        r"\bcamera (move|moves|motion|movement|path|work)\b",
        r"\b(dolly|pan|tilt|crane|tracking shot|handheld|drone shot|orbit|push in)\b",
        r"\b(keep|same|original) (the )?(motion|movement|blocking|choreography)\b",
    ),
    "continuity": (
        r"\bcontinuity\b",
        r"\bconsisten(t|cy)\b",
        r"\bmatch(es)? the (rest|other shots|surrounding)",
        r"\bmatch (the )?(next|previous|other|adjacent|surrounding|neighbouring|neighboring) (one|shot|shots|clip)",
        r"\b(same|one) (take|look) across\b",
    ),
    "control": (
        r"\bcontrol",
        r"\b(precise|precisely|exact|exactly|faithful|faithfully)\b",
        r"\b(close|true|faithful) to (the |my |our )?(original|source|footage|take)\b",
        r"\bstay close\b",
        r"\bkeep everything (else|except|but)\b",
        r"\bdont (touch|change) (anything|the rest)\b",
        r"\b(minimal|subtle|small) (change|changes|edit|edits|tweak|tweaks)\b",
    ),
    "rescue": (
        r"\b(rescue|salvage|fix|repair|save|reuse|re use|repurpose|recycle|refresh)\b",
        r"\b(update|rework|redo) (the |this |our |my )?(shot|clip|footage|take|spot|ad)\b",
    ),
    "has_footage": (
        r"\b(i|we|you) (already )?(have|got|shot|filmed|recorded|captured)\b( \w+){0,4} (footage|clip|video|take|shot|plate|b roll)s?\b",
        rf"\b(existing|source|original|our|my|your|this|these|that|those|the filmed|the same|same)( \w+){{0,2}} {_HAD}\b",
        rf"\b{_HAD} (we|i|they|you) (have|had|shot|filmed|recorded|made|produced|delivered|did)\b",
        r"\b(footage|rushes|dailies|b roll)\b",
        r"\bfrom (the|our|yesterdays|last weeks|this) (shoot|session|set)\b",
        r"\b(last weeks|yesterdays|last years|last months) (\w+ )?(shoot|footage|shots?|spot|ad|advert|commercial|clip|video|interview|campaign)\b",
        r"\balready (filmed|shot|exists?)\b",
        r"\b(shot|footage|clip|take|video) (exists|is done|is in the can)\b",
    ),
    # a definite article alone ("the kitchen scene") may point at footage the user has, or at a shot to make
    "maybe_footage": (rf"\bthe( \w+){{0,2}} {_HAD}\b",),
    "no_footage": (
        r"\b(no|without|dont have|do not have|havent got|have not got|lack|lacking|missing)\b( \w+){0,3} (footage|clip|video|source|plate)s?\b",
        r"\b(not|nothing|never)( (has|have|had|yet|been|being)){0,3} (filmed|shot|recorded)\b",
        r"\b(havent|have not|not yet) (filmed|shot)\b",
        r"\bblank (page|slate|canvas)\b",
        r"\bfrom scratch\b",
        r"\bonly (have )?(an |a )?(idea|concept|prompt)\b",
    ),
    # what changes
    "relight": (
        r"\bre ?light",
        r"\b(change|adjust|fix|alter|redo|rework|match|new) (the |its |their )?(lighting|light)\b",
        r"\blighting (change|fix|pass|update)\b",
    ),
    # words that describe light; on footage they ask for a relight, without it they describe the shot
    "light_words": (
        r"\btime of day\b",
        r"\blighting\b",
        r"\b(darken|darker|brighten|brighter|warmer|warm up|cooler|cool down|moodier|exposure|white balance)\b",
    ),
    "restyle": (
        r"\bre ?styl",
        r"\bstyli[sz]",
        r"\b(new|different|another|fresh) (look|style|aesthetic)\b",
        r"\b(art direction|colou?r grade|grading)\b",
    ),
    # words that describe a look; on footage they ask for a restyle, without it they describe the shot
    "look_words": (
        r"\b(anime|claymation|comic book|noir|painterly|illustrated|illustration)\b",
        r"\bin the style of\b",
        r"\b(?!the |this |that |a |same |its )\w+ style\b",
    ),
    "swap": (
        r"\b(swap|replace|switch|exchange)( \w+){0,3} (product|packaging|package|bottle|can|label|logo|pack|brand|branding|box|sign|billboard|poster|item)s?\b",
        r"\b(product|packaging|pack|label|logo|bottle|can|brand) (swap|replacement|change|update)\b",
        r"\b(new|updated|different|another|rebranded|redesigned|latest)( \w+)? (product|packaging|package|bottle|can|label|logo|pack|branding)\b",
        r"\bchange (the |our )?(product|packaging|label|logo|bottle|can|brand|branding)\b",
        r"\bproduct placement\b",
        # any other swap or replacement, except of what an environment change or a relight/restyle covers
        r"\b(swap|replace|switch out|exchange)\b(?!( the| its| our)?( \w+)? (sky|skies|background|backdrop|scenery|setting|weather|lighting|light|look|style)\b)",
    ),
    "environment": (
        r"\b(environment|background|backdrop|setting|location|surroundings|scenery|set dressing|weather|sky|skies)s?\b",
        r"\b(move|put|place|set|transport|relocate) (it|them|him|her|this|the \w+) (to|in|into|on|at)\b",
        r"\b(rain|rainy|snow|snowy|fog|foggy|storm|stormy|winter|desert|beach|forest|underwater)\b",
    ),
    "localize": (
        r"\blocali[sz]",
        r"\bmarkets?\b",
        r"\btranslat",
        r"\bsubtitl",
        r"\bcaptions?\b",
        r"\bon ?screen (text|copy|titles?|graphics)\b",
        r"\b(regional|international|global|per country|per region|language|languages|country) (versions?|cuts?|edits?|roll ?out|campaign)\b",
        r"\b(other|several|multiple|many|different|more) (countries|markets|languages|regions|territories)\b",
    ),
    "reframe": (
        r"\breframe",
        r"\baspect ratio",
        r"\b(vertical|portrait|square) (version|format|cut|crop|video)s?\b",
        r"\b(tiktok|instagram|reels|stories|youtube shorts)\b",
        r"\b\d{1,2} ?: ?\d{1,2}\b",
    ),
    # where the user stands
    "explore": (
        r"\bbrainstorm",
        r"\bexplor",
        r"\bideat",
        r"\b(idea|ideas|concepts|options|alternatives|possibilities|directions)\b",
        r"\bmood ?board",
        r"\bpitch",
        r"\bstoryboard",
        r"\b(still|remains?|wide) open\b",
        r"\b(direction|look|idea|concept) is open\b",
        r"\b(not sure|unsure|undecided|havent decided|have not decided)\b",
        r"\bexperiment",
        r"\bplay(ing)? around\b",
        r"\bfirst (draft|pass|visual|look|direction)\b",
        r"\b(try|see) (some |a few |different |several )?(things|versions|variations|looks|approaches)\b",
        r"\bwhat (it|this|the)( \w+)? (could|should|might|will) (look|be)\b",
        r"\b(havent|have not|not|yet to be) (settled|decided|locked|committed|agreed)\b",
        r"\bdifferent (takes|versions|looks|directions|ideas|approaches|options)\b",
        r"\briff",
        r"\bvariet(y|ies)\b",
    ),
    "new_shot": (
        r"\b(new|fresh|original) (shot|scene|clip|video|sequence|spot|commercial)\b",
        r"\bfrom scratch\b",
        r"\b(generate|invent|create|make|produce|come up with|dream up|imagine|conjure up) (me )?(a |an |some |the )?(short |quick )?(shot|video|clip|scene|sequence|ad|advert|spot|commercial|trailer|teaser|animation)s?\b",
        r"\b(text|image|photo|still|picture) to video\b",
        r"\b(animate|bring to life) (this|the|my|our|a)( \w+)? (photo|image|still|picture|illustration|frame)s?\b",
        r"\bbring (this|the|my|our)( \w+)? (photo|image|still|picture) to life\b",
    ),
    "sequence": (
        r"\bthen\b( \w+){0,6} (transform|locali[sz]e|relight|restyle|swap|refine|market|versions?|adapt)",
        r"\b(pick|choose|select|keep)( \w+){0,3} (best|strongest|favou?rite|closest|winning|top)( \w+)? (take|one|version|option|direction|result)s?\b",
        r"\b(use|combine|chain) both\b",
        r"\bboth (models|workflows|together)\b",
        r"\bin sequence\b",
        r"\bend to end\b",
        r"\b(full|whole|complete) (workflow|pipeline)\b",
    ),
    "beginner": (
        r"\b(beginner|novice|newbie|first time|first timer)s?\b",
        r"\bnew (to|at) (this|video|ai|shotcraft)\b",
        r"\bget(ting)? started\b",
        r"\bnever (done|used|tried)\b",
        r"\bwhere (do|should|to) (i|we) (start|begin)\b",
        r"\bwhich (model|one|workflow|tool|mode) (should|do|to)\b",
        r"\bhow (do|should) (i|we) (start|begin)\b",
    ),
}

#: Relight presets by the words that name them; a preset word also means the time of day should change.
RELIGHT_PRESET_WORDS: dict[str, tuple[str, ...]] = {
    "golden_hour": (
        r"\bgolden hour\b",
        r"\bsunset\b",
        r"\bsunrise\b",
        r"\bmagic hour\b",
        r"\bwarm evening\b",
    ),
    "blue_hour": (r"\bblue hour\b", r"\bdusk\b", r"\btwilight\b", r"\bdawn\b"),
    "night": (r"\bnight", r"\bmidnight\b", r"\bafter dark\b", r"\bevening\b", r"\bmoonlit\b"),
    "overcast": (r"\bovercast\b", r"\bcloudy\b", r"\bgr[ae]y (day|sky)\b", r"\bgloomy\b"),
    "noon": (r"\bnoon\b", r"\bmidday\b", r"\bdaylight\b", r"\bdaytime\b", r"\bsunny\b", r"\bbroad day"),
}

#: Built-in looks (RestyleOp.look) by the words that name them.
LOOK_WORDS: dict[str, tuple[str, ...]] = {
    "watercolour": (r"\bwatercolou?r", r"\bpainted\b", r"\bgouache\b"),
    "pencil": (r"\bpencil\b", r"\bsketch", r"\bcharcoal\b", r"\bline drawing\b"),
    "cartoon": (r"\bcartoon", r"\banime\b", r"\btoon\b", r"\bcel shad", r"\bcomic book\b"),
    "film_print": (
        r"\bfilm (print|look|stock|grain)\b",
        r"\bvintage\b",
        r"\b(35|16|8) ?mm\b",
        r"\banalog(ue)?\b",
        r"\bretro\b",
        r"\bkodak\b",
    ),
}

#: Market codes by the country or language names that name them. Naming two, or one with "version",
#: "market", "audience" and the like, asks for localization.
MARKET_NAMES: dict[str, tuple[str, ...]] = {
    "DE": (r"\bgerman(y)?\b", r"\bdach\b"), "FR": (r"\bfrench\b", r"\bfrance\b"),
    "ES": (r"\bspanish\b", r"\bspain\b"), "IT": (r"\bital(y|ian)\b",), "JP": (r"\bjapan(ese)?\b",),
    "CN": (r"\bchin(a|ese)\b", r"\bmandarin\b"), "KR": (r"\bkorea(n)?\b",), "BR": (r"\bbrazil(ian)?\b", r"\bportuguese\b"),
    "MX": (r"\bmexic(o|an)\b",), "UK": (r"\buk\b", r"\bbrit(ain|ish)\b", r"\bunited kingdom\b"),
    "NL": (r"\bdutch\b(?! angle)", r"\bnetherlands\b"), "PL": (r"\bpoland\b", r"\bpolish (version|market|audience|subtitles)"), "IN": (r"\bindia(n)?\b", r"\bhindi\b"),
    "AE": (r"\barabic\b", r"\buae\b", r"\bemirates\b"),
}  # fmt: skip
_MARKET_CONTEXT = (
    r"\b(version|versions|market|markets|audience|audiences|release|edition|cut|cuts|territory)\b"
)

#: Target aspect ratios by the words that name them (an explicit "9:16" wins).
ASPECT_WORDS: dict[str, tuple[str, ...]] = {
    "9:16": (
        r"\bvertical\b",
        r"\bportrait (version|format|cut|crop|video)",
        r"\b(tiktok|reels|stories|youtube shorts)\b",
    ),
    "1:1": (r"\bsquare (version|format|crop|cut|video|frame)",),
    "16:9": (r"\bwidescreen\b", r"\blandscape (version|format|crop|cut|video)"),
}


def normalise(text: str) -> str:
    """The goal as the patterns see it.

    >>> normalise("Don't re-light the Café scene — keep it 9:16!")
    'dont re light the cafe scene keep it 9:16'
    """
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"['`]", "", text)
    text = re.sub(r"(?<!\d):|:(?!\d)", " ", text)  # keep ':' only inside ratios such as 9:16
    return " ".join(re.sub(r"[^a-z0-9:%]+", " ", text).split())


def _matches(text: str, patterns: tuple[str, ...]) -> bool:
    return any(re.search(p, text) for p in patterns)


def _named(text: str, table: dict[str, tuple[str, ...]]) -> list[str]:
    """The table's names found in ``text``, in the order the text mentions them."""
    found = {}
    for name, patterns in table.items():
        places = [m.start() for p in patterns if (m := re.search(p, text))]
        if places:
            found[name] = min(places)
    return sorted(found, key=found.__getitem__)


def read_goal(goal: str) -> tuple[set[str], dict[str, Any]]:
    """The intents a goal expresses, and the values it names (relight preset, look, markets, aspect).

    >>> intents, values = read_goal("Make German and Japanese versions, shot at sunset")
    >>> sorted(intents), values
    (['light_words', 'localize'], {'preset': 'golden_hour', 'markets': ['DE', 'JP']})
    """
    text = normalise(goal)
    intents = {name for name, patterns in GOAL_INTENTS.items() if _matches(text, patterns)}
    values: dict[str, Any] = {}
    if presets := _named(text, RELIGHT_PRESET_WORDS):
        intents.add("light_words")
        values["preset"] = presets[-1]  # "from day to night": the target is named last
    if looks := _named(text, LOOK_WORDS):
        intents.add("look_words")
        values["look"] = looks[0]
    if markets := _named(text, MARKET_NAMES):
        values["markets"] = markets
        if len(markets) > 1 or re.search(_MARKET_CONTEXT, text):
            intents.add("localize")
    if ratio := re.search(r"\b(\d{1,2}) ?: ?(\d{1,2})\b", text):
        values["aspect"] = f"{ratio[1]}:{ratio[2]}"
    elif aspects := _named(text, ASPECT_WORDS):
        values["aspect"] = aspects[0]
        intents.add("reframe")
    if "no_footage" in intents or "new_shot" in intents:
        # "we don't have footage yet" and "make a new spot" name footage too
        intents -= {"has_footage", "maybe_footage"}
    if "has_footage" in intents:
        intents.discard("maybe_footage")
    if "localize" not in intents:
        values.pop("markets", None)
    return intents, values


# ---------------------------------------------------------------------------------------------------------
# 2-3. Facts and the workflow rules.

#: Intents that say something in an existing take is worth keeping.
KEEP = frozenset({"performance", "timing", "camera", "continuity", "control", "rescue"})
#: Intents that are transform operations.
OPERATIONS = frozenset({"relight", "restyle", "swap", "environment", "localize", "reframe"})
#: Operations that make versions of one kept take, so they need a shot even when none exists yet. (Without
#: a clip, "at night", "in watercolour" or "vertical" describe the shot to invent, so they are not here.)
VERSIONING = frozenset({"localize", "swap", "relight", "restyle"})
#: On a source clip, describing light or a look, or bringing a product photo, asks for an operation.
ON_SOURCE_IMPLIES: dict[str, str] = {"light_words": "relight", "look_words": "restyle", "product": "swap"}
#: Intents that only make sense about footage that exists.
IMPLIES_FOOTAGE = frozenset({"has_footage", "performance", "timing", "rescue"})


@dataclass(frozen=True)
class Rule:
    """Matches when the facts hold everything in ``all``, something in ``any`` (if given) and nothing in
    ``none``; ``adds`` are facts the choice itself implies."""

    name: str
    workflow: Workflow
    reason: str
    all: frozenset[str] = frozenset()
    any: frozenset[str] = frozenset()
    none: frozenset[str] = frozenset()
    adds: frozenset[str] = frozenset()

    def matches(self, facts: set[str]) -> bool:
        return self.all <= facts and (not self.any or bool(self.any & facts)) and not (self.none & facts)


def _rule(name: str, workflow: Workflow, reason: str, **sets: Any) -> Rule:
    return Rule(name, workflow, reason, **{k: frozenset(v) for k, v in sets.items()})


WORKFLOW_RULES: tuple[Rule, ...] = (
    _rule("asked for both in sequence", "invent-then-transform", "sequence", all={"sequence"}),
    _rule("clip, but a new shot asked for", "invent", "new_shot_with_clip", all={"clip", "new_shot"}, none=KEEP | OPERATIONS),
    _rule("clip, direction still open", "invent-then-transform", "explore_then_transform", all={"clip", "explore"}, none=KEEP | OPERATIONS,
          adds={"restyle"}),
    _rule("clip", "transform", "footage", all={"clip"}),
    _rule("footage named but not given", "transform", "footage", any=IMPLIES_FOOTAGE, none={"no_footage", "new_shot", "explore"}),
    _rule("versions of a shot not made yet", "invent-then-transform", "shot_first", any=VERSIONING),
    _rule("edited keyframes, no clip", "invent", "first_last", all={"keyframes"}),
    _rule("exploring", "invent", "explore", any={"explore"}),
    _rule("a still image", "invent", "image_to_video", all={"image"}),
    _rule("an idea", "invent", "no_clip"),
)  # fmt: skip

#: Why, on a server that cannot invent, a goal with no clip gets no settings yet.
NO_INVENT_NO_CLIP = (
    "Inventing new shots is not available here (no video model is set up), so the work starts from footage: "
    "there is no clip yet to transform."
)

REASONS: dict[str, str] = {
    "footage": "The source clip already holds what is worth keeping (timing, motion, camera path, performance, "
    "product placement, edit duration): transform it with control instead of inventing a new shot.",
    "no_clip": "There is no source clip yet, so the job is inventing the shot: generate takes from the prompt, "
    "image or references.",
    "explore": "The shot's direction is still open: invent several quick draft takes to explore it; while the "
    "shot itself is being brainstormed, inventing is the faster first step.",
    "sequence": "Use both in sequence: invent a direction, pick the strongest take, then transform it "
    "(relight, restyle, localize) so every version keeps that take's timing.",
    "explore_then_transform": "The footage exists but its direction is still open: explore looks by inventing "
    "draft takes, pick the closest, then transform the clip towards it, keeping the clip's timing and motion.",
    "new_shot_with_clip": "A new shot is asked for, not a change to this one: invent it. The clip's timing and "
    "motion will not carry over; use one of its frames as a reference to match its look.",
    "shot_first": "The changes asked for make versions of an existing shot, and there is none yet: invent the "
    "shot first, then transform the kept take so every version shares its timing.",
    "first_last": "Edited keyframes and no clip: invent the shot between them, the first keyframe as the start "
    "frame and the last as the end frame.",
    "image_to_video": "A still image and no clip: invent a shot with the image as its first frame (image to "
    "video), then transform the kept take if its look needs to change.",
}

FACT_REASONS: dict[str, str] = {
    "performance": "The performance is good: lock the faces and keep motion adherence at 9 so every expression "
    "and gesture stays as filmed.",
    "timing": "The timing is already cut: a transform keeps the exact frame count, fps, duration and audio, so "
    "the shot drops back into the edit.",
    "camera": "The camera move is worth keeping: motion adherence 9 makes every pixel move as in the source.",
    "continuity": "Continuity matters: a transform preserves the source's duration and motion, which an invented "
    "shot cannot promise.",
    "control": "For the most control over an existing clip, combine keyframes, motion adherence, structure "
    "adherence and locks so the result stays close to the original take where needed.",
    "rescue": "Rescue and reuse: the take is worth keeping, so change its look rather than reshoot or re-invent it.",
    "relight": "Relighting keeps shapes and motion: high structure adherence and a low strength.",
    "restyle": "Restyling changes the look, not the action: motion adherence stays high while the style moves.",
    "restyle_by_prompt": "A restyle with no keyframe, look or reference to follow needs a generative model: "
    "describe the end look in the prompt; motion adherence stays high so the action is kept.",
    "restyle_keyframes": "Edited keyframes on a clip: restyle by the keyframes; the edit propagates between them "
    "following the source's motion (motion adherence 9).",
    "swap": "A new product: swap it in, tracked through the shot, with the photo as the product reference; "
    "everything outside the product stays as in the source.",
    "environment": "A new environment: describe the end state in the prompt and lock the people so only their "
    "surroundings change.",
    "localize": "Market versions: localize on-screen text (and subtitles) per market; every version keeps the "
    "same take, timing and audio.",
    "reframe": "A new aspect ratio: reframe by outpainting the sides, keeping the source's timing.",
    "product_reference": "The product photos go in as product references so the invented takes show the real product.",
    "explore_on_footage": "Exploring on footage worth keeping: let the look move far (a reimagine strength) and run a few "
    "seeds to compare; adherence and locks hold what must stay.",
    "beginner": "Start with the job, not the model name: if you have footage, transform it; if you only have an "
    "idea, invent.",
}

# ---------------------------------------------------------------------------------------------------------
# 4. Suggested transform settings per fact. Merged by _merge: adherence takes the highest value asked for,
#    strength the most permissive, locks are pooled, the engine is diffusion if any fact needs a model.

TRANSFORM_SETTINGS: dict[str, dict[str, Any]] = {
    "performance": {"motion_adherence": 9, "locks": [{"kind": "faces"}]},
    "timing": {"motion_adherence": 9},
    "camera": {"motion_adherence": 9},
    "continuity": {"motion_adherence": 8, "structure_adherence": 7},
    "control": {"motion_adherence": 9, "structure_adherence": 8, "strength": "adhere_2"},
    "relight": {"structure_adherence": 8, "strength": "adhere_2", "engine": "classic"},
    "restyle": {"motion_adherence": 8, "strength": "flex_2", "engine": "classic"},
    "restyle_by_prompt": {"motion_adherence": 8, "structure_adherence": 6, "strength": "flex_2", "engine": "diffusion"},
    "restyle_keyframes": {"motion_adherence": 9, "structure_adherence": 7, "strength": "adhere_3", "engine": "classic"},
    "swap": {"motion_adherence": 9, "structure_adherence": 9, "strength": "adhere_1", "engine": "classic"},
    "environment": {"motion_adherence": 8, "structure_adherence": 4, "strength": "flex_1", "engine": "diffusion",
                    "locks": [{"kind": "people"}]},
    "localize": {"structure_adherence": 9, "strength": "adhere_1", "engine": "classic"},
    "reframe": {"motion_adherence": 9, "engine": "diffusion"},
    "explore_on_footage": {"strength": "reimagine_1", "engine": "diffusion"},
}  # fmt: skip

_STRENGTH_ORDER = [*STRENGTH_LEVELS]  # adhere_1 .. reimagine_3, least to most permissive


def _merge(patches: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for patch in patches:
        for key, value in patch.items():
            if key in ("motion_adherence", "structure_adherence"):
                merged[key] = max(merged.get(key, 0), value)
            elif key == "strength":
                current = merged.get(key, value)
                merged[key] = max(current, value, key=_STRENGTH_ORDER.index)
            elif key == "locks":
                merged[key] = [*merged.get(key, []), *(v for v in value if v not in merged.get(key, []))]
            elif key == "engine":
                merged[key] = "diffusion" if "diffusion" in (value, merged.get(key)) else value
            else:
                merged[key] = value
    return merged


# ---------------------------------------------------------------------------------------------------------
# The public models and the function.


class Assets(BaseModel):
    """What the user has. Keyframes may carry their place in the clip: ``4.2s:key.png``, ``50%:key.png``."""

    model_config = ConfigDict(extra="forbid")

    clip: Path | None = None
    images: list[Path] = Field(default_factory=list, description="stills to start a shot from")
    references: list[Path] = Field(default_factory=list, description="style or character references")
    products: list[Path] = Field(default_factory=list, description="product photos")
    keyframes: list[Path] = Field(default_factory=list, description="edited stills, optionally TIME:FILE")
    prompt: str = ""

    @property
    def image_like(self) -> bool:
        """Stills to start a shot from (images or edited keyframes), so a shot is not only words."""
        return bool(self.images or self.keyframes)


class Branch(BaseModel):
    """The advice for one answer to the deciding question."""

    when: str
    workflow: Workflow
    steps: list[str]
    settings: dict[str, dict[str, Any]]


class Advice(BaseModel):
    """The answer: a workflow, why, what to do in order, settings to start from and what to watch out for."""

    workflow: Workflow
    reasons: list[str]
    steps: list[str]
    settings: dict[str, dict[str, Any]] = Field(
        description="'generate' and/or 'transform': partial spec mappings"
    )
    warnings: list[str] = Field(default_factory=list)
    understood: list[str] = Field(
        default_factory=list,
        description="the goal's words the advice relied on, each with what it was read as",
    )
    clip: dict[str, Any] | None = Field(
        default=None, description="the probed clip: seconds, frames, fps, size"
    )
    question: str | None = Field(
        default=None,
        description="where the words leave it open: the question that decides between the branches",
    )
    branches: list[Branch] = Field(
        default_factory=list, description="where it is open: the advice for each answer to the question"
    )

    def to_text(self) -> str:
        """A plain-text answer for the terminal."""
        lines = [f"Workflow: {self.workflow}", "", "Why:"]
        lines += [f"  - {reason}" for reason in self.reasons]
        lines += ["", "Steps:"] + [f"  {i}. {step}" for i, step in enumerate(self.steps, 1)]
        lines += ["", "Suggested settings:"]
        lines += ["  " + line for line in yaml.safe_dump(self.settings, sort_keys=False).splitlines()]
        if self.warnings:
            lines += ["", "Watch out:"] + [f"  - {warning}" for warning in self.warnings]
        if self.question:
            lines += ["", f"Open: {self.question}"]
            lines += [f"  - {b.when}: {b.workflow} ({b.steps[-1]})" for b in self.branches]
        if self.understood:
            lines += ["", f"(read from the goal: {'; '.join(self.understood)})"]
        return "\n".join(lines)


_TIMED_KEYFRAME = re.compile(r"^(?P<at>\d+(\.\d+)?s|\d+(\.\d+)?%|f?\d+):(?P<image>.+)$")


def advise(assets: Assets, goal: str, *, can_invent: bool = True) -> Advice:
    """Recommend a workflow for ``assets`` and ``goal`` (free English text), with reasons and settings.

    The clip, if any, is probed (duration, fps, size, variable frame rate); a clip that cannot be probed or
    an asset file that does not exist raises :class:`~shotcraft.spec.SpecError`. ``can_invent=False`` (a
    server without a video model) recommends only what can run there: transforming a clip, or, with no clip,
    bringing one first.
    """
    if not goal.strip():
        raise SpecError("say what you want to do (the goal), e.g. 'relight this for night'")
    _check_files(assets)
    video = _probe_clip(assets.clip) if assets.clip is not None else None
    intents, values = read_goal(goal)
    if video is None and _footage_open(intents, assets):
        # The words leave open whether the shot exists: advise for both answers, the likelier one first.
        have = _decide(assets, (intents - {"maybe_footage"}) | {"has_footage"}, values, None, can_invent)
        lack = _decide(assets, intents - {"maybe_footage"} | {"no_footage"}, values, None, can_invent)
        if have.workflow != lack.workflow:
            advice = have if "maybe_footage" in intents else lack
            advice.question = OPEN_QUESTION
            advice.branches = [
                Branch(when="you have the shot (pass it with --clip)", workflow=have.workflow, steps=have.steps,
                       settings=have.settings),
                Branch(when="the shot does not exist yet", workflow=lack.workflow, steps=lack.steps,
                       settings=lack.settings),
            ]  # fmt: skip
            advice.understood = understood_words(goal, intents)
            return advice
    advice = _decide(assets, intents, values, video, can_invent)
    advice.understood = understood_words(goal, intents)
    return advice


#: The question that decides an open reading: whether the shot to change already exists.
OPEN_QUESTION = "Do you already have this shot as a clip? If so, pass it with --clip and it is transformed; if not, it is invented first."


def _footage_open(intents: set[str], assets: Assets) -> bool:
    """Whether the goal leaves open if the shot exists: a shot named only with "the", or changes that make
    versions of a shot with nothing said about having it."""
    if intents & {"has_footage", "no_footage", "new_shot", "explore", "sequence"} or assets.image_like:
        return False
    return "maybe_footage" in intents or bool(intents & VERSIONING)


def _decide(
    assets: Assets, intents: set[str], values: dict[str, Any], video: VideoInfo | None, can_invent: bool
) -> Advice:
    facts = intents | _asset_facts(assets)
    if video is not None:
        facts |= _implied_operations(facts)
    rule = next(r for r in WORKFLOW_RULES if r.matches(facts))
    if not can_invent and rule.workflow != "transform":
        if video is None:
            return Advice(
                workflow="transform",
                reasons=[NO_INVENT_NO_CLIP],
                steps=["Bring the clip you want to change (upload it), then ask again."],
                settings={},
                understood=sorted(intents),
            )
        rule = next(r for r in WORKFLOW_RULES if r.workflow == "transform" and r.matches(facts))
    facts |= rule.adds
    # The transform works on a source clip (given, or named in the goal) unless it follows an invention.
    on_source = video is not None or rule.workflow == "transform"
    if on_source:
        facts |= _implied_operations(facts)
    warnings: list[str] = []
    reasons = [REASONS[rule.reason]]
    settings: dict[str, dict[str, Any]] = {}
    steps: list[str] = []
    if rule.workflow != "transform":
        settings["generate"] = _generate_settings(assets, facts, values, video, rule.workflow, warnings)
        steps += _generate_steps(settings["generate"], rule.workflow)
        if "product" in facts and video is None:
            reasons.append(FACT_REASONS["product_reference"])
    if rule.workflow != "invent":
        transform, explained = _transform_settings(assets, facts, values, on_source, rule.workflow, warnings)
        settings["transform"] = transform
        reasons += [FACT_REASONS[f] for f in explained]
        steps += _transform_steps(
            transform, after_invent=rule.workflow != "transform", clip=video is not None
        )
        if video is None and rule.workflow == "transform":
            warnings.append("The goal speaks of footage that exists, but no clip was given: bring it (upload it, "
                            "or --clip) so its length and frame rate can be checked.")  # fmt: skip
    if "beginner" in facts:
        reasons.append(FACT_REASONS["beginner"])
    if video is not None:
        warnings += _clip_warnings(video, assets.clip, settings.get("transform", {}), rule.workflow)
    if not intents:
        warnings.append("The goal names no change or situation the advisor recognises; this advice rests on the "
                        "assets alone.")  # fmt: skip
    return Advice(
        workflow=rule.workflow,
        reasons=reasons,
        steps=steps,
        settings=settings,
        warnings=warnings,
        clip=_clip_summary(video) if video is not None else None,
    )


#: What each intent means, as the advice says it read the goal.
INTENT_MEANINGS: dict[str, str] = {
    "has_footage": "footage you have", "maybe_footage": "a shot that may exist", "no_footage": "no footage yet",
    "new_shot": "a new shot", "light_words": "light", "look_words": "a look", "explore": "still exploring",
    "sequence": "both in sequence", "beginner": "new to this",
}  # fmt: skip


def understood_words(goal: str, intents: set[str]) -> list[str]:
    """The goal's words each intent was read from, in the goal's order: ``'this interview' → footage you
    have``. Intents the choice itself added are not words and are not listed.

    >>> understood_words("this interview needs a night grade", read_goal("this interview needs a night grade")[0])
    ["'this interview' → footage you have", "'night' → relight preset night"]
    """
    text = normalise(goal)
    found: list[tuple[int, str]] = []
    for intent in intents:
        for pattern in GOAL_INTENTS.get(intent, ()):
            if match := re.search(pattern, text):
                found.append((match.start(), f"'{match[0]}' → {INTENT_MEANINGS.get(intent, intent)}"))
                break
    for table, what in (
        (RELIGHT_PRESET_WORDS, "relight preset"),
        (LOOK_WORDS, "look"),
        (MARKET_NAMES, "market"),
    ):
        for name, patterns in table.items():
            for pattern in patterns:
                if match := re.search(pattern, text):
                    found.append((match.start(), f"'{match[0]}' → {what} {name}"))
                    break
    return [words for _, words in sorted(found)]


def _implied_operations(facts: set[str]) -> set[str]:
    return {op for fact, op in ON_SOURCE_IMPLIES.items() if fact in facts}


def _check_files(assets: Assets) -> None:
    problems = []
    groups = {"image": assets.images, "reference": assets.references, "product photo": assets.products}
    groups["keyframe"] = [_split_keyframe(k)[1] for k in assets.keyframes]
    for what, paths in groups.items():
        problems += [f"{what} {p} does not exist" for p in paths if not Path(p).is_file()]
    if len(assets.keyframes) > MAX_KEYFRAMES:
        problems.append(f"{len(assets.keyframes)} keyframes given; at most {MAX_KEYFRAMES} per clip")
    if problems:
        raise SpecError(problems)


def _probe_clip(path: Path) -> VideoInfo:
    try:
        return probe(path).require_video()
    except MediaError as exc:
        raise SpecError(f"the clip cannot be used: {exc}") from None


def _asset_facts(assets: Assets) -> set[str]:
    present = {
        "clip": assets.clip is not None,
        "image": bool(assets.images),
        "reference": bool(assets.references),
        "product": bool(assets.products),
        "keyframes": bool(assets.keyframes),
        "prompt": bool(assets.prompt.strip()),
    }
    return {name for name, here in present.items() if here}


def _split_keyframe(item: Path) -> tuple[str | None, str]:
    """``4.2s:key.png`` -> ("4.2s", "key.png"); a plain file name has no time."""
    found = _TIMED_KEYFRAME.match(str(item))
    return (found["at"], found["image"]) if found else (None, str(item))


def _generate_settings(
    assets: Assets,
    facts: set[str],
    values: dict[str, Any],
    video: VideoInfo | None,
    workflow: Workflow,
    warnings: list[str],
) -> dict[str, Any]:
    exploring = bool({"explore", "sequence"} & facts) or workflow == "invent-then-transform"
    settings: dict[str, Any] = {"prompt": assets.prompt.strip()} if assets.prompt.strip() else {}
    # Edited keyframes (and stills) of a source clip belong to its transform; without one they frame the shot.
    on_source = video is not None
    keyframes = [] if on_source else [_split_keyframe(k)[1] for k in assets.keyframes]
    if keyframes:
        settings["image"] = keyframes[0]
        if len(keyframes) > 1:
            settings["end_image"] = keyframes[-1]
        if len(keyframes) > 2:
            warnings.append(f"Only the first and last of the {len(keyframes)} keyframes start and end the "
                            "generated shot; use the others as transform keyframes on the kept take.")  # fmt: skip
    elif assets.images and not on_source:
        settings["image"] = str(assets.images[0])
        if len(assets.images) > 1:
            warnings.append("Only the first image starts the shot; pass the others as references.")
    references = [{"image": str(p), "role": "style"} for p in assets.references]
    references += [{"image": str(p), "role": "product"} for p in assets.products]
    if references:
        settings["references"] = references
    if "aspect" in values:
        settings["aspect"] = values["aspect"]
    elif video is not None:
        ratio = Fraction(video.display_size[0], video.display_size[1])
        settings["aspect"] = f"{ratio.numerator}:{ratio.denominator}"
    if video is not None:
        settings["duration"] = round(min(float(video.duration), 120.0), 3)
    settings.update(
        {"takes": EXPLORE_TAKES if exploring else DEFAULT_TAKES, "quality": "draft", "engine": "diffusion"}
    )
    if not (settings.get("prompt") or settings.get("image") or references):
        warnings.append(
            "Write a prompt that describes the shot (--prompt): there is nothing else to invent from."
        )
    return _in_field_order(settings, GenerateSpec)


def _transform_settings(
    assets: Assets,
    facts: set[str],
    values: dict[str, Any],
    on_source: bool,
    workflow: Workflow,
    warnings: list[str],
) -> tuple[dict[str, Any], list[str]]:
    """The suggested transform settings, and the facts that shaped them (each explained in FACT_REASONS)."""
    keyframes = [_split_keyframe(k) for k in assets.keyframes] if on_source else []
    style_refs = [*assets.references, *(assets.images if on_source else [])]
    # With nothing else asked for, keyframes, style references or exploring on footage mean a restyle.
    exploring = "explore" in facts and workflow == "transform"
    restyle = "restyle" in facts or (bool(keyframes or style_refs or exploring) and not (facts & OPERATIONS))
    shaping = [
        f for f in ("performance", "timing", "camera", "continuity", "control", "rescue") if f in facts
    ]
    if "relight" in facts:
        shaping.append("relight")
    if restyle:
        # After an invention the kept take's frame becomes the reference (a step says so).
        guided = bool(keyframes or style_refs or "look" in values) or workflow != "transform"
        shaping.append("restyle_keyframes" if keyframes else "restyle" if guided else "restyle_by_prompt")
    shaping += [f for f in ("swap", "environment", "localize", "reframe") if f in facts]
    if exploring:
        shaping.append("explore_on_footage")
    settings = _merge([TRANSFORM_SETTINGS.get(f, {}) for f in shaping])
    # After an invention the user's prompt described the invented shot, not the transform's end state.
    if assets.prompt.strip() and workflow == "transform":
        settings = {"prompt": assets.prompt.strip(), **settings}
    if keyframes:
        untimed = [image for at, image in keyframes if at is None]
        spread = [i / (len(keyframes) - 1) if len(keyframes) > 1 else 0.0 for i in range(len(keyframes))]
        settings["keyframes"] = [
            {"at": _time_point(at, fraction), "image": image}
            for (at, image), fraction in zip(keyframes, spread, strict=True)
        ]
        if untimed:
            warnings.append("Keyframe times were spread evenly over the clip; set each to the frame it was "
                            "painted from (e.g. 4.2s:key.png).")  # fmt: skip
    references = [{"image": str(p), "role": "style"} for p in style_refs]
    references += [{"image": str(p), "role": "product"} for p in assets.products]
    if references:
        settings["references"] = references
    if assets.images and on_source:
        warnings.append("With a clip, images are used as style references; an edited frame of the clip belongs "
                        "in --keyframe instead.")  # fmt: skip
    operations: list[dict[str, Any]] = []
    if "relight" in facts:
        operations.append({"op": "relight", **({"preset": values["preset"]} if "preset" in values else {})})
    if restyle:
        look = {"look": values["look"]} if "look" in values else {}
        operations.append(
            {"op": "restyle", **look, **({"reference": str(style_refs[0])} if style_refs else {})}
        )
    if "swap" in facts:
        product = {"image": str(assets.products[0])} if assets.products else {}
        operations.append({"op": "swap", **product, "occluders": "people", "match_lighting": True})
    if "localize" in facts:
        operations.append(
            {"op": "localize", **({"markets": values["markets"]} if "markets" in values else {})}
        )
    if operations:
        settings["operations"] = operations
    if "reframe" in facts and "aspect" in values:
        settings["reframe"] = {"aspect": values["aspect"]}
    return _in_field_order(settings, TransformSpec), [f for f in shaping if f in FACT_REASONS]


def _in_field_order(settings: dict[str, Any], spec: type[BaseModel]) -> dict[str, Any]:
    """Settings listed in the order the spec declares its fields, so they read like a spec file."""
    return {name: settings[name] for name in spec.model_fields if name in settings}


def _time_point(at: str | None, fraction: float) -> dict[str, Any]:
    point = parse_time_point(at) if at is not None else TimePoint(fraction=round(fraction, 4))
    return point.model_dump(exclude_none=True)


def _generate_steps(settings: dict[str, Any], workflow: Workflow) -> list[str]:
    takes = settings["takes"]
    if settings.get("prompt"):
        steps = []
    elif "image" in settings:
        steps = ["Add a short prompt saying what happens in the shot (the image sets the look)."]
    else:
        steps = ["Write a prompt that describes the shot you want to see."]
    steps += [
        f"Invent {takes} draft takes (quality: draft) and compare them side by side.",
        "Pick the strongest take and render it again as final, with the same seed.",
    ]
    if workflow == "invent" and "image" in settings and "end_image" not in settings:
        steps.append(
            "If the kept take's look needs to change later, transform it: it is now your source clip."
        )
    return steps


def _transform_steps(settings: dict[str, Any], after_invent: bool, clip: bool) -> list[str]:
    source = "the clip" if clip or not after_invent else "the kept take"
    ops = {op["op"]: op for op in settings.get("operations", [])}
    steps = []
    if after_invent and "restyle" in ops and "reference" not in ops["restyle"]:
        steps.append("Export a frame of the kept take and give it as the restyle reference for the clip.")
    if "relight" in ops and "preset" not in ops["relight"]:
        steps.append("Choose a relight preset (golden_hour, blue_hour, night, overcast, noon), set exposure and "
                     "temperature, or grade one frame elsewhere and give it as a relight keyframe.")  # fmt: skip
    if "swap" in ops:
        steps.append(
            "Mark the product's four corners on one frame (or give a track file) so the swap can follow it."
        )
        if "image" not in ops["swap"]:
            steps.append("Add the new product photo as the swap image.")
    if "localize" in ops:
        steps.append("List the markets and give a translation table (source text -> text per market)."
                     if "markets" not in ops["localize"] else "Give a translation table for the on-screen text per market.")  # fmt: skip
    if settings.get("engine") == "diffusion" and "prompt" not in settings:
        steps.append(
            "Write the prompt as the end state (e.g. 'a rainy night street, neon signs'), not as the change."
        )
    result = "each market version" if "localize" in ops else "the result"
    steps.append(
        f"Transform {source} with these settings; {result} keeps its frame count, fps, duration and audio."
    )
    return steps


def _clip_warnings(video: VideoInfo, path: Path, transform: dict[str, Any], workflow: Workflow) -> list[str]:
    warnings = []
    seconds = float(video.duration)
    if seconds > DIFFUSION_WINDOW_SECONDS and workflow != "invent":
        suggested = f" (suggested here: {transform['engine']})" if "engine" in transform else ""
        warnings.append(
            f"{path.name} lasts {seconds:.1f} s, longer than one diffusion window (about "
            f"{DIFFUSION_WINDOW_SECONDS:g} s): the classic engine handles any length; the diffusion engine works "
            f"through it in overlapping sliding windows with colour anchoring at the joins{suggested}."
        )
    if video.vfr:
        warnings.append(f"{path.name} has a variable frame rate: its timestamps are kept, but diffusion models work "
                        "on a fixed frame grid, so check motion and lip sync in the result or prefer the classic engine.")  # fmt: skip
    return warnings


def _clip_summary(video: VideoInfo) -> dict[str, Any]:
    return {
        "seconds": round(float(video.duration), 3),
        "frames": video.frame_count,
        "fps": str(video.fps),
        "width": video.display_size[0],
        "height": video.display_size[1],
        "variable_frame_rate": video.vfr,
    }
