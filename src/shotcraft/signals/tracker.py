"""The planar tracker: a quad given on a reference frame, registered to every other frame of its clip.

How a frame is tracked (:meth:`PlanarTracker.follow`):

1. **Predict.** The region's feature points, where they were on the previous frame, are followed into this
   one by KLT (:mod:`shotcraft.signals.klt`), starting where the region's last motion would put them, so
   40 px per frame is a small step for the pyramid. Their homography (MAGSAC++) predicts the region.
2. **Blur the reference like the frame.** Fast motion smears the frame; the reference patch is smeared
   along the region's motion by the shutter (none, 90° or 180°) that makes it look most like the frame.
3. **Re-anchor to the reference** (no drift): the frame is pulled back into the reference frame's
   coordinates, its brightness matched to the reference's, and the reference's own points are followed
   from the reference into it. The share of the visible points whose homography agrees is the geometric
   half of the confidence.
4. **Refine by direct alignment.** ECC (``cv2.findTransformECCWithMask``, a homography, at full resolution;
   at half then full only when that fails) matches the reference's appearance pixel by pixel, from whichever start (the prediction,
   the re-anchored points, the last motion carried on) correlates best. What is in front of the region
   (an occluder) is masked out first: pixels whose local structure or brightness, after a refitted change
   of light, differ from the reference. ECC's correlation on the rest is the photometric half of the
   confidence, the masked share how much is covered. A plain region (a plate) is matched with a wider rim,
   its outline being most of what it shows. **Leaving the picture:** a plain region's outline a few pixels
   off is not taken for an occluder there (masked, ECC could not pull it back); with less than
   ``TrackerSettings.whole_shape`` of the region in the picture (or when the homography fitted to a larger
   part fails), only a shift in its plane is fitted to the visible part, the shape being carried on from its
   last motion; its corners are reported even where they lie outside the picture. How much of it is in the
   picture is judged again where it is found: a start a frame's travel off can misjudge it.
5. **Loss.** A frame is ``tracked`` when enough visible points re-anchor consistently or ECC matches the
   reference closely, and not too much is covered. Otherwise the region is ``lost`` (hidden) or, when less
   than ``TrackerSettings.min_visible`` of it is in the picture (or its predicted place is mostly outside
   and it is not found), ``out_of_frame``; its motion keeps being extrapolated,
   and for a few frames it is looked for there (an occluder passing).
6. **Re-detection.** A missing region is looked for on every frame by SIFT matching against the
   reference, confirmed by steps 3-5. A region that left the picture comes back only moving back in, the
   way it went out: a look-alike still travelling the way it left (the next vent on a bus roof, the next
   window of a façade) is a different object.

:class:`PlanarTracker` works one frame at a time and knows nothing of clips or files;
:func:`shotcraft.signals.track.track_region` runs it over a clip and writes the track file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from shotcraft.signals.flow import to_grey
from shotcraft.signals.klt import WINDOW, fit_homography, follow_points, klt_step, plausible_quad, project
from shotcraft.signals.shapes import polygon_mask
from shotcraft.spec import SpecError

#: What a tracked frame can say: found, hidden, or gone out of the picture.
StepStatus = Literal["tracked", "lost", "out_of_frame"]
#: Shares of the frame interval the shutter may be open (0°, 90°, 180°): the reference is blurred along
#: the region's motion by each, and the one that looks most like the frame is used.
SHUTTERS = (0.0, 0.25, 0.5)


@dataclass(frozen=True)
class TrackerSettings:
    """Knobs of the tracker; the defaults suit 240p..1080p footage."""

    max_points: int = 400
    min_points: int = 8  # fewer reference features than this: the region is too plain to track
    ransac_threshold: float = 2.0
    min_inliers: int = 10
    min_confidence: float = 0.2  # share of visible reference points that re-anchor; below: not by points
    min_correlation: float = 0.9  # ECC correlation that tracks a frame on appearance alone
    max_occluded: float = 0.7  # share of the region's visible pixels unlike the reference; above: hidden
    # Share of the region (and its rim) inside the picture; below: out of frame. Measured on the bikes
    # plate and the synthetic label, a strip of a fifth of the region still places it within 3-5 px; a
    # thinner one is narrower than the smear of a fast move and could as well be something else.
    min_visible: float = 0.15
    coast_frames: int = 12  # frames a hidden region is looked for where its last motion carries it
    rim: int = 3  # px outside the quad the direct alignment also matches (the region's own edge)
    # A plain region (a plate, a sign: fewer feature points than this) is matched mostly by its outline,
    # whose step, smeared by motion, is wider than ``rim``: its direct alignment matches ``plain_rim`` px
    # around it. (Around a textured region a wide rim would mostly match the background, which need not
    # move with it.)
    plain_points: int = 60
    plain_rim: int = 8
    # How far (px) the outline of a plain region partly out of the picture may be off before its pixels
    # count as unlike the reference. The strip of outline still in the picture is what aligns it: masked
    # as an occluder where it is a few pixels off, ECC can no longer pull it back and the error grows
    # frame after frame (the bikes plate leaving the picture: 3 px). Not on a whole region, nor around a
    # textured one: there the tolerance lets through what does not move with it (the background beside a
    # card moving over it, the pole over the label).
    plain_tolerance: int = 3
    whole_shape: float = 0.6  # share of the region in the picture; below: only its shift is fitted
    chunk: int = 32  # frames decoded at once for the backward pass (bounds memory)


@dataclass
class TrackerStep:
    """One frame's result: the homography reference → frame (None when not found), confidence, status."""

    homography: np.ndarray | None
    confidence: float
    status: StepStatus


@dataclass
class _Reference:
    """What every frame is registered against: the reference frame's patch around the region, its mask,
    and its features."""

    grey: np.ndarray
    corners: np.ndarray  # (4, 2) on the reference frame
    points: np.ndarray  # (N, 2) float32 feature points on the region, reference coordinates
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the patch (region plus margin)
    mask: np.ndarray  # uint8 patch-sized: the region and its rim
    sift: tuple[np.ndarray, np.ndarray] | None = field(default=None)  # positions, descriptors; made on need

    @property
    def patch(self) -> np.ndarray:
        x0, y0, x1, y1 = self.box
        return self.grey[y0:y1, x0:x1]

    @property
    def offset(self) -> np.ndarray:
        """Patch coordinates → reference-frame coordinates."""
        return np.array([[1, 0, self.box[0]], [0, 1, self.box[1]], [0, 0, 1]], np.float64)


def visible_fraction(corners: np.ndarray, width: int, height: int) -> float:
    """Share of the quad's area inside a ``width`` x ``height`` picture."""
    poly = np.asarray(corners, np.float32).reshape(-1, 1, 2)
    area = abs(cv2.contourArea(poly))
    if area <= 0:
        return 0.0
    frame = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32).reshape(-1, 1, 2)
    inside, _ = cv2.intersectConvexConvex(poly, frame)
    return float(inside) / area


class PlanarTracker:
    """Registers frames of one clip to a region given on a reference frame (see the module docstring).

    >>> import numpy as np, cv2
    >>> rng = np.random.default_rng(1)
    >>> frame = cv2.GaussianBlur((rng.random((120, 160)) * 255).astype(np.uint8), (0, 0), 1.5)
    >>> corners = np.array([[40, 30], [100, 30], [100, 80], [40, 80]], np.float64)
    >>> tracker = PlanarTracker(frame, corners)
    >>> moved = np.roll(frame, (2, 3), axis=(0, 1))  # the picture moves 3 px right, 2 px down
    >>> step = tracker.start(frame, corners).follow(moved)
    >>> step.status, np.round(tracker.corners(step.homography)[0], 1).tolist()
    ('tracked', [43.0, 32.0])
    """

    def __init__(
        self, reference_frame: np.ndarray, corners: np.ndarray, settings: TrackerSettings | None = None
    ):
        self.settings = s = settings or TrackerSettings()
        grey = to_grey(reference_frame)
        h, w = grey.shape
        corners = np.asarray(corners, np.float64).reshape(4, 2)
        if visible_fraction(corners, w, h) < 0.5:
            raise SpecError(
                f"the region {np.round(corners).astype(int).tolist()} lies mostly outside the {w}x{h} frame: "
                "give corners on the picture"
            )
        area = abs(cv2.contourArea(corners.astype(np.float32)))
        if area < 64:
            raise SpecError(f"the region is {area:.0f} px²; a region needs at least 8x8 pixels to track")
        region = polygon_mask(w, h, [tuple(p) for p in corners]).astype(np.uint8)
        points = self._features(grey, region, area, s.rim)
        rim_width, self._plain = s.rim, False
        # Counted on the picture smoothed by 1 px: grain and codec noise are corners of their own at the pixel
        # scale (the bikes plate under grain of 4 grey levels: 158 points where it shows 30, taken for a
        # textured region and matched without its outline, 1.9 px off).
        smooth = cv2.GaussianBlur(grey, (0, 0), 1.0)
        if len(self._features(smooth, region, area, s.rim)) < s.plain_points:
            rim_width, self._plain = s.plain_rim, True
            points = self._features(grey, region, area, rim_width)
        if len(points) < s.min_points:
            raise SpecError(
                f"the region has too little texture to track ({len(points)} feature points, "
                f"{s.min_points} needed): choose a region with visible detail"
            )
        # A wide margin keeps the coarse pyramid levels of the re-anchoring away from the patch border.
        margin = 2 * WINDOW
        x0, y0 = np.floor(corners.min(axis=0)).astype(int) - margin
        x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + margin
        box = (max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1)))
        rim = cv2.dilate(region, np.ones((2 * rim_width + 1, 2 * rim_width + 1), np.uint8))
        mask = rim[box[1] : box[3], box[0] : box[2]].copy()
        self.reference = _Reference(grey, corners, points, box, mask)
        self._reference_area = area
        # A 5x5 grid over the region (reference coordinates), where an ECC jump is measured.
        u, v = (t.reshape(-1, 1) for t in np.meshgrid(np.linspace(0.0, 1.0, 5), np.linspace(0.0, 1.0, 5)))
        self._grid = (1 - v) * ((1 - u) * corners[0] + u * corners[1]) + v * (
            (1 - u) * corners[3] + u * corners[2]
        )
        # A plain region (a plate, a sign) has few points: following a third of them is still a fit.
        self._min_inliers = max(6, min(s.min_inliers, len(points) // 3))
        self._homography: np.ndarray | None = None
        self._previous: np.ndarray | None = None
        self._corners: np.ndarray | None = None
        self._velocity = np.zeros((4, 2))
        self._exit: np.ndarray | None = None  # the region's motion when it left the picture
        self._missing = 0  # frames since the region was last found
        self._tick = 0  # frames followed since the start
        self._found: tuple[int, np.ndarray] | None = None  # the last frame found: its tick, its corners

    def _features(self, grey: np.ndarray, region: np.ndarray, area: float, rim_width: int) -> np.ndarray:
        """Corner features on the region and its rim: a plain surface is found by its own outline."""
        s = self.settings
        rim = cv2.dilate(region, np.ones((2 * rim_width + 1, 2 * rim_width + 1), np.uint8))
        spacing = max(3.0, float(np.sqrt(area / s.max_points)) * 0.7)
        found = cv2.goodFeaturesToTrack(
            grey, maxCorners=s.max_points, qualityLevel=0.005, minDistance=spacing, mask=rim, blockSize=5
        )
        return np.zeros((0, 2), np.float32) if found is None else found.reshape(-1, 2).astype(np.float32)

    # -- state ---------------------------------------------------------------------------------------------

    def corners(self, homography: np.ndarray) -> np.ndarray:
        """The region's corners on a frame, given that frame's homography from the reference."""
        return project(self.reference.corners, homography)

    def homography_to(self, corners: np.ndarray) -> np.ndarray:
        """The homography taking the reference corners onto ``corners``."""
        return cv2.getPerspectiveTransform(
            self.reference.corners.astype(np.float32), np.asarray(corners, np.float32).reshape(4, 2)
        )

    def start(self, frame: np.ndarray, corners: np.ndarray) -> PlanarTracker:
        """Restart from a frame where the region's corners are known (the reference or a correction)."""
        self._previous = to_grey(frame)
        self._homography = self.homography_to(corners)
        self._corners = np.asarray(corners, np.float64).reshape(4, 2)
        self._velocity = np.zeros((4, 2))
        self._exit = None
        self._missing = 0
        self._found = (self._tick, self._corners)
        return self

    # -- one frame -----------------------------------------------------------------------------------------

    def follow(self, frame: np.ndarray) -> TrackerStep:
        """Track into the next frame (in either direction) and return where the region is."""
        grey = to_grey(frame)
        h, w = grey.shape
        s = self.settings
        was_tracked = self._homography is not None
        # Where the region's last motion puts it: the start of KLT's search, and the guess if KLT fails.
        coasting = None if self._corners is None else self.homography_to(self._corners + self._velocity)
        guess = None
        if was_tracked and self._previous is not None:
            assert self._homography is not None
            guess = self._predict(self._previous, grey, self._homography, coasting)
        guess = guess if guess is not None else coasting
        missing = TrackerStep(None, 0.0, "lost")
        step: TrackerStep | None = None
        if guess is not None:
            visible = visible_fraction(self.corners(guess), w, h)
            if visible < 0.5:
                missing = TrackerStep(None, 0.0, "out_of_frame")
            if visible < s.min_visible:
                step = missing
            elif was_tracked or self._missing <= s.coast_frames:
                # Just lost (an occluder passing): look where its last motion carries it, too.
                assert self._corners is not None
                motion = (self.corners(guess) - self._corners).mean(axis=0)
                step = self._align(grey, guess, motion, coasting)
                if not was_tracked and step.confidence < 2 * s.min_confidence:
                    step = None
        if step is None or step.homography is None:
            found = self._redetect(grey)
            step = found if found.homography is not None else missing
        self._remember(step)
        self._previous = grey
        return step

    def _remember(self, step: TrackerStep) -> None:
        """Keep the last corners and their per-frame motion, for predicting and for guessing where a
        missing region went."""
        self._tick += 1
        if step.homography is not None:
            corners = self.corners(step.homography)
            # Found again within the coasting horizon, it kept moving while it was missing: its velocity
            # spans the gap. (Set to zero, the next frame was searched where it had last been, a whole
            # frame's travel off: the bikes plate missed on one frame while leaving was lost on the next.)
            self._velocity = 0 * corners
            if self._found is not None and self._tick - self._found[0] <= self.settings.coast_frames + 1:
                self._velocity = (corners - self._found[1]) / (self._tick - self._found[0])
                # A corner outside the picture was not seen: its own motion is the fit's guess, and once
                # only a strip is left (its shape carried on) a wrong guess grows every frame (the leaving
                # card's hidden corner 11 px off after 4 frames, decoded by swscale's accurate path). It
                # moves with the region.
                outside = ~_in_picture(corners, self.reference.grey.shape)
                if outside.any() and not outside.all():
                    self._velocity[outside] = self._velocity.mean(axis=0)
            self._found = (self._tick, corners)
            self._corners = corners
            self._exit = None
            self._missing = 0
        elif self._corners is not None:
            self._missing += 1
            if step.status == "out_of_frame" and self._exit is None:
                self._exit = self._velocity.mean(axis=0)
            self._corners = self._corners + self._velocity
        self._homography = step.homography

    def _predict(
        self, previous: np.ndarray, grey: np.ndarray, homography: np.ndarray, coasting: np.ndarray | None
    ) -> np.ndarray | None:
        """KLT from the previous frame, searching where the last motion puts each point."""
        s = self.settings
        ref_points = self.reference.points
        start = project(ref_points, homography)
        inside = _in_picture(start, grey.shape)
        if inside.sum() < self._min_inliers:
            return None
        guess = None if coasting is None else project(ref_points[inside], coasting)
        moved = klt_step(
            previous, grey, start[inside], ref_points[inside], guess=guess,
            threshold=1.5 * s.ransac_threshold, min_points=self._min_inliers, method=cv2.USAC_MAGSAC,
        )  # fmt: skip
        if moved is None or not plausible_quad(self.corners(moved.homography), self._reference_area, 50):
            return None
        return moved.homography

    def _align(
        self,
        grey: np.ndarray,
        homography: np.ndarray,
        motion: np.ndarray,
        other: np.ndarray | None = None,
        settle: bool = True,
    ) -> TrackerStep:
        """Register the frame to the reference, starting from ``homography`` (reference → frame), or from
        ``other`` (the last motion carried on) if that looks more like the reference: by the reference's
        points, then by its appearance. ``motion`` is the region's travel (px) since the previous frame:
        the reference is blurred along it by the shutter (:data:`SHUTTERS`) that makes it look most like
        the frame. With ``settle``, a region found with a different share of it in the picture than its
        start had is aligned again from where it was found (see :meth:`_extent`)."""
        s = self.settings
        ref = self.reference
        warped, area = self._pulled_back(grey, homography)
        in_picture = self._share(area)
        if in_picture < s.min_visible:
            return TrackerStep(None, 0.0, "out_of_frame")
        whole, extent = in_picture >= 0.99, self._extent(in_picture)
        template = max(
            (self._blurred_reference(homography, motion, shutter) for shutter in SHUTTERS),
            key=lambda t: self._likeness(t, warped, area, refit=whole),
        )
        on_picture = project(ref.points, homography)
        visible = _in_picture(on_picture, grey.shape, margin=1)
        by_points = self._by_points(template, _match_brightness(warped, template, area), homography, visible)
        share = by_points[1] if by_points is not None else 0.0
        points_agree = by_points is not None and share >= s.min_confidence
        # Frame-to-frame KLT is the more precise start under blur (both frames are blurred alike) unless
        # an occluder dragged its points along; then the points re-anchored to the reference, or the last
        # motion carried on, may be closer: start from whichever looks most like the reference.
        starts = [homography] + [c for c in (other, by_points[0] if by_points else None) if c is not None]
        start = max(starts, key=lambda c: self._likeness(template, *self._pulled_back(grey, c)))
        # A plain region partly out of the picture is held by the strip of its outline still in it: that
        # outline a few pixels off must not be masked as something in front (see ``plain_tolerance``).
        tolerance = s.plain_tolerance if self._plain and not whole else 0
        if in_picture < s.whole_shape:
            # A strip of the region fixes where it is, not its shape: the shape comes from the motion
            # model (the corners' last motion carried on) and only a shift is fitted to the strip.
            rounds = [((1.0,), cv2.MOTION_TRANSLATION)]
        else:
            # The start is usually within a pixel or two: one round at full resolution; the coarse-to-fine
            # pair (a start several pixels off still converges) only when that one fails.
            rounds = [((1.0,), cv2.MOTION_HOMOGRAPHY), ((0.5, 1.0), cv2.MOTION_HOMOGRAPHY)]
            if not whole:
                # Part of it outside, the rest may not fix all eight parameters (a plain region's sides
                # end outside): fitted to the part left, the shape can swing past the jump check or ECC
                # not converge (the bikes plate two-thirds in the picture, decoded by another converter
                # or after a re-encode: lost, and its motion lost with it). A shift, the shape carried on
                # from its last motion, is what a strip would get.
                rounds.append(((1.0,), cv2.MOTION_TRANSLATION))
        hidden = False  # something in front of it (or a start too far off to tell: the next round may)
        for scales, model in rounds:
            refined = self._by_appearance(grey, template, start, scales, model, tolerance)
            if refined is None:
                continue
            found, correlation, occluded = refined
            hidden = occluded > s.max_occluded
            if hidden or not plausible_quad(self.corners(found), self._reference_area, 50):
                continue
            if points_agree or correlation >= s.min_correlation:
                if settle and self._extent(self._share(self._on_picture(grey.shape, found))) != extent:
                    again = self._align(grey, found, motion, settle=False)
                    if again.homography is not None:
                        return again
                confidence = max(share, correlation * (1 - occluded))
                return TrackerStep(found, round(min(1.0, confidence), 4), "tracked")
        if hidden or not points_agree:
            return TrackerStep(None, share, "lost")
        return TrackerStep(start, round(min(1.0, share), 4), "tracked")

    def _share(self, on_picture: np.ndarray) -> float:
        """The share of the region and its rim that ``on_picture`` (:meth:`_on_picture`) puts in the picture."""
        return float(on_picture.sum()) / float((self.reference.mask > 0).sum())

    def _extent(self, in_picture: float) -> int:
        """How the region is aligned with ``in_picture`` of it in the picture: 2 whole (a homography, its
        outline matched exactly), 1 partly (a homography, its outline tolerated a few pixels off when
        plain), 0 a strip (a shift). Decided at the start, which under fast motion can be many pixels off
        (where the region's last motion carries it): a region found leaving the picture is aligned again
        as one that is (the bikes plate, its lower edge at the border and its start 10 px short of it
        after a re-encode: its outline not tolerated and its top fitted 4 px off)."""
        return int(in_picture >= 0.99) + int(in_picture >= self.settings.whole_shape)

    @staticmethod
    def _likeness(template: np.ndarray, warped: np.ndarray, area: np.ndarray, refit: bool = False) -> float:
        """How much the frame pulled back onto the reference (``warped``, valid on ``area``:
        :meth:`_pulled_back`) correlates with ``template``; with ``refit``, after the shift that correlates
        them best (a start a pixel or two off otherwise favours a smeared template, whose smear hides the
        misalignment)."""
        if area.sum() < 64:
            return -1.0
        mask = area.astype(np.uint8) * 255
        if refit:
            criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 1e-4)
            try:
                return float(cv2.findTransformECCWithMask(
                    template.astype(np.float32), warped.astype(np.float32), mask, None,
                    np.eye(2, 3, dtype=np.float32), cv2.MOTION_TRANSLATION, criteria, 3,
                )[0])  # fmt: skip
            except cv2.error:
                pass
        return float(cv2.computeECC(template, warped, mask))

    def _pulled_back(self, grey: np.ndarray, homography: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The frame warped into the reference patch, and where that patch is on the region (and its rim)
        and on the picture."""
        ref = self.reference
        size = (ref.box[2] - ref.box[0], ref.box[3] - ref.box[1])
        warped = cv2.warpPerspective(
            grey, homography @ ref.offset, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        )
        return warped, self._on_picture(grey.shape, homography)

    def _on_picture(self, shape: tuple[int, ...], homography: np.ndarray) -> np.ndarray:
        """Where the reference patch, placed by ``homography``, is on the region (and its rim) and inside a
        picture of ``shape`` (bool over the patch)."""
        ref = self.reference
        h, w = shape[:2]
        size = (ref.box[2] - ref.box[0], ref.box[3] - ref.box[1])
        valid = cv2.warpPerspective(
            np.full((h, w), 255, np.uint8), homography @ ref.offset, size,
            flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
        )  # fmt: skip
        return (ref.mask > 0) & (valid > 0)

    def _blurred_reference(self, homography: np.ndarray, motion: np.ndarray, shutter: float) -> np.ndarray:
        """The reference patch smeared along the region's motion, as a shutter open for ``shutter`` of
        the frame interval would film it."""
        patch = self.reference.patch
        centre = self.reference.corners.mean(axis=0)
        # The motion in reference coordinates: through the inverse of the homography's local linear part.
        ahead = project(centre + np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), homography)
        jacobian = np.stack([ahead[1] - ahead[0], ahead[2] - ahead[0]], axis=1)
        try:
            travel = np.linalg.solve(jacobian, np.asarray(motion, np.float64))
        except np.linalg.LinAlgError:
            return patch
        length = float(np.linalg.norm(travel)) * shutter
        # A streak under 3 px is within what the pyramid's smoothing absorbs anyway.
        if not np.isfinite(length) or length < 3.0:
            return patch
        kernel = motion_blur_kernel(length, float(np.arctan2(travel[1], travel[0])))
        return cv2.filter2D(patch, -1, kernel, borderType=cv2.BORDER_REPLICATE)

    def _by_points(
        self, template: np.ndarray, matched: np.ndarray, homography: np.ndarray, visible: np.ndarray
    ) -> tuple[np.ndarray, float] | None:
        """The reference's points followed from the reference patch into the pulled-back frame: the
        homography they agree on and the share of the visible points that do."""
        s = self.settings
        ref = self.reference
        if visible.sum() < self._min_inliers:
            return None
        ref_points = ref.points[visible]
        local = (ref_points - np.array(ref.box[:2], np.float32)).astype(np.float32)
        # The prediction is within a few pixels: one pyramid level above full resolution is enough.
        found, good = follow_points(template, matched, local, levels=1)
        if good.sum() < self._min_inliers:
            return None
        targets = project(found[good] + np.array(ref.box[:2], np.float32), homography)
        fitted = fit_homography(
            ref_points[good], targets, s.ransac_threshold, self._min_inliers, cv2.USAC_MAGSAC
        )
        if fitted is None:
            return None
        refined, inliers = fitted
        if not plausible_quad(self.corners(refined), self._reference_area, 50):
            return None
        return refined, float(inliers.sum()) / len(ref_points)

    def _by_appearance(
        self,
        grey: np.ndarray,
        template: np.ndarray,
        homography: np.ndarray,
        scales: tuple[float, ...],
        motion: int = cv2.MOTION_HOMOGRAPHY,
        tolerance: int = 0,
    ) -> tuple[np.ndarray, float, float] | None:
        """ECC refinement of ``homography`` against the (blurred) reference patch ``template``, with what
        differs from it (an occluder) masked out: the homography, ECC's correlation, the occluded share.

        ``scales`` are the rounds: ``(1.0,)`` one at full resolution, ``(0.5, 1.0)`` coarse to fine (a
        start several pixels off still converges); what disagrees is measured again before each (a
        misaligned edge disagrees too). ``motion`` ``cv2.MOTION_TRANSLATION`` fits only a shift of the
        region in its own plane, keeping the start's shape. ``tolerance``: see :func:`_consistent`. Only
        the frame around the region is given to ECC (it filters and differentiates the whole input image
        on every call)."""
        offset = self.reference.offset
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-5)
        current, correlation, occluded = homography, 0.0, 0.0
        for scale in scales:
            warped, area = self._pulled_back(grey, current)
            if area.sum() < 64:
                return None
            keep = _consistent(warped.astype(np.float32), template.astype(np.float32), area, tolerance)
            occluded = 1.0 - float(keep.sum()) / float(area.sum())
            if keep.sum() < 64:
                return None
            zoom = np.diag([scale, scale, 1.0])
            mask = _scaled(keep.astype(np.uint8) * 255, scale, cv2.INTER_NEAREST)
            try:
                if motion == cv2.MOTION_TRANSLATION:
                    # In the pulled-back picture (reference coordinates), a shift is a move in the plane.
                    correlation, found = cv2.findTransformECCWithMask(
                        _scaled(template, scale), _scaled(warped, scale), mask, None,
                        np.eye(2, 3, dtype=np.float32), motion, criteria, 3,
                    )  # fmt: skip
                    shift = np.eye(3)
                    shift[:2, 2] = found[:, 2] / scale
                    current = current @ offset @ shift @ np.linalg.inv(offset)
                else:
                    crop, cropped = _around(grey, self.corners(current), 2 * WINDOW)
                    correlation, found = cv2.findTransformECCWithMask(
                        _scaled(template, scale), _scaled(cropped, scale), mask, None,
                        (zoom @ crop @ current @ offset @ np.linalg.inv(zoom)).astype(np.float32),
                        motion, criteria, 3,
                    )  # fmt: skip
                    current = (
                        np.linalg.inv(crop) @ np.linalg.inv(zoom) @ found.astype(np.float64) @ zoom
                        @ np.linalg.inv(offset)
                    )  # fmt: skip
            except cv2.error:
                return None
            current /= current[2, 2]
        # ECC only polishes: a large jump means it slid onto something else. Measured on the part in the
        # picture: the corners of a region partly out of it are extrapolated, and a slight tilt fitted to
        # the strip left swings them far (the bikes plate leaving, once its levels were raised 2 grey).
        before, after = project(self._grid, homography), project(self._grid, current)
        inside = _in_picture(before, grey.shape)
        if inside.sum() < 3:
            inside[:] = True
        shift = np.linalg.norm(after[inside] - before[inside], axis=1).max()
        if not np.isfinite(shift) or shift > max(8.0, 0.15 * np.sqrt(self._reference_area)):
            return None
        return current, float(correlation), occluded

    def _redetect(self, grey: np.ndarray) -> TrackerStep:
        """Look for a missing region anywhere in the frame by SIFT matching, confirmed by alignment."""
        s = self.settings
        ref = self.reference
        sift = cv2.SIFT_create(nfeatures=2000)
        if ref.sift is None:
            h, w = ref.grey.shape
            region = polygon_mask(w, h, [tuple(p) for p in ref.corners]).astype(np.uint8)
            keypoints, descriptors = sift.detectAndCompute(ref.grey, region)
            positions = np.array([k.pt for k in keypoints], np.float32).reshape(-1, 2)
            ref.sift = (positions, descriptors if descriptors is not None else np.zeros((0, 128), np.float32))
        positions, descriptors = ref.sift
        if len(positions) < s.min_inliers:
            return TrackerStep(None, 0.0, "lost")
        keypoints, frame_descriptors = sift.detectAndCompute(grey, None)
        if frame_descriptors is None or len(keypoints) < s.min_inliers:
            return TrackerStep(None, 0.0, "lost")
        pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(descriptors, frame_descriptors, k=2)
        # Lowe's ratio test keeps only distinctive matches.
        matches = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.75 * p[1].distance]
        if len(matches) < s.min_inliers:
            return TrackerStep(None, 0.0, "lost")
        src = positions[[m.queryIdx for m in matches]]
        dst = np.array([keypoints[m.trainIdx].pt for m in matches], np.float32)
        fitted = fit_homography(src, dst, 4.0, s.min_inliers, cv2.USAC_MAGSAC)
        if fitted is None or not plausible_quad(self.corners(fitted[0]), self._reference_area, 50):
            return TrackerStep(None, 0.0, "lost")
        found = fitted[0]
        h, w = grey.shape
        if visible_fraction(self.corners(found), w, h) < s.min_visible:
            return TrackerStep(None, 0.0, "out_of_frame")
        if self._exit is not None and not self._coming_back(grey, found):
            return TrackerStep(None, 0.0, "out_of_frame")
        confirmed = self._align(grey, found, np.zeros(2))
        # A re-found region must re-anchor more convincingly than one followed from the previous frame.
        if confirmed.homography is None or confirmed.confidence < 2 * s.min_confidence:
            return TrackerStep(None, 0.0, "lost")
        return confirmed

    def _coming_back(self, grey: np.ndarray, found: np.ndarray) -> bool:
        """Whether a region found after it left the picture is moving back in (against the way it left)."""
        assert self._exit is not None
        if self._previous is None or np.linalg.norm(self._exit) < 1.0:
            return True  # it drifted out too slowly to tell a direction
        points = project(self.reference.points, found)
        inside = _in_picture(points, grey.shape)
        if inside.sum() < self.settings.min_inliers:
            return False
        before, good = follow_points(grey, self._previous, points[inside])
        if good.sum() < self.settings.min_inliers:
            return False
        motion = np.median(points[inside][good] - before[good], axis=0)
        return float(motion @ self._exit) < 0


def motion_blur_kernel(length: float, angle: float) -> np.ndarray:
    """A normalised line of ``length`` pixels at ``angle`` (radians): the blur of a straight motion."""
    size = math.ceil(length) | 1
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
    cv2.line(kernel, (round((c - dx) * 16), round((c - dy) * 16)), (round((c + dx) * 16), round((c + dy) * 16)),
             1.0, 1, cv2.LINE_AA, shift=4)  # fmt: skip
    return kernel / max(float(kernel.sum()), 1e-6)


def _in_picture(points: np.ndarray, shape: tuple[int, ...], margin: int = 0) -> np.ndarray:
    """Which ``(N, 2)`` points lie in a picture of ``shape`` (rows, columns), ``margin`` px in from its edge."""
    h, w = shape[:2]
    x, y = points[:, 0], points[:, 1]
    return (x >= margin) & (x < w - margin) & (y >= margin) & (y < h - margin)


def _consistent(image: np.ndarray, template: np.ndarray, area: np.ndarray, tolerance: int = 0) -> np.ndarray:
    """The part of ``area`` where ``image`` looks like ``template`` up to a change of light (gain and
    offset): whatever is in front of the region does not. Two tests: the local structure (an occluder
    that happens to have the region's brightness still lacks its texture), and the brightness itself,
    with the light refitted on what agrees. With a ``tolerance`` (px), a pixel agrees in brightness when
    it lies between the darkest and brightest template pixels within that distance: an edge that far off
    still agrees, so the alignment can correct it (something in front differs from all of them)."""
    # Local normalised cross-correlation in 11 px windows, where the template has texture to compare.
    box = (11, 11)
    mean_i, mean_t = cv2.blur(image, box), cv2.blur(template, box)
    var_i = cv2.blur(image * image, box) - mean_i**2
    var_t = cv2.blur(template * template, box) - mean_t**2
    cov = cv2.blur(image * template, box) - mean_i * mean_t
    ncc = cov / np.sqrt(np.maximum(var_i, 1.0) * np.maximum(var_t, 1.0))
    keep = area & ~((var_t > 25.0) & (ncc < 0.3))
    near = np.ones((2 * tolerance + 1, 2 * tolerance + 1), np.uint8)
    darkest, brightest = cv2.erode(template, near), cv2.dilate(template, near)
    for _ in range(3):
        x, y = image[keep], template[keep]
        if x.size < 16:
            return keep
        gain, bias = np.polyfit(x, y, 1) if float(x.std()) > 1.0 else (1.0, float(y.mean() - x.mean()))
        # Smoothed residuals: a blob of disagreement is something in front, single pixels are noise.
        lit = image * gain + bias
        residual = cv2.GaussianBlur(np.maximum(np.maximum(darkest - lit, lit - brightest), 0), (0, 0), 2.0)
        limit = max(12.0, 3.0 * 1.4826 * float(np.median(residual[keep])))
        unlike = residual > limit
        keep = keep & ~unlike
    return area & ~(cv2.dilate((area & ~keep).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0)


def _around(grey: np.ndarray, corners: np.ndarray, margin: int) -> tuple[np.ndarray, np.ndarray]:
    """The part of the frame within ``margin`` px of the quad ``corners``, and the translation from frame
    coordinates to that crop's."""
    h, w = grey.shape
    x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int) - margin, 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(corners.max(axis=0)).astype(int) + margin + 1, [x0 + 1, y0 + 1], [w, h])
    return np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64), grey[y0:y1, x0:x1]


def _scaled(image: np.ndarray, scale: float, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """``image`` resized by ``scale``, as float32 for ECC (masks stay uint8)."""
    if scale != 1.0:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=interpolation)
    return (
        image if image.dtype == np.uint8 and interpolation == cv2.INTER_NEAREST else image.astype(np.float32)
    )


def _match_brightness(image: np.ndarray, reference: np.ndarray, area: np.ndarray) -> np.ndarray:
    """``image`` with the gain and offset that give it the reference's mean and contrast over ``area``
    (lighting changes move both), as uint8."""
    values, target = image[area].astype(np.float32), reference[area].astype(np.float32)
    if values.size < 2:
        return image
    gain = float(target.std()) / max(float(values.std()), 1.0)
    shifted = (image.astype(np.float32) - float(values.mean())) * gain + float(target.mean())
    return np.clip(shifted + 0.5, 0, 255).astype(np.uint8)
