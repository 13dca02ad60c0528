"""Named evaluation protocols: how a paper turns restored images into PSNR/SSIM(/LPIPS).

Which options a paper used changes its numbers by up to about 1 dB, so every table the project
prints names its protocol with :meth:`Protocol.describe`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..config.errors import suggest

__all__ = ["Protocol", "PROTOCOLS", "get_protocol"]


@dataclass(frozen=True)
class Protocol:
    """Options of :func:`aioir.metrics.psnr` / :func:`~aioir.metrics.ssim`, plus LPIPS on/off.

    ``ssim_window``: ``"gaussian"`` (11x11, sigma 1.5) or ``"uniform"`` (7x7 box, sample
    covariance: scikit-image's defaults, which AirNet/PromptIR's scripts use).

    >>> Protocol("mine", crop_border=2).metric_options()
    {'crop_border': 2, 'y_channel': False, 'round_uint8': True}
    """

    name: str
    crop_border: int = 0
    y_channel: bool = False
    round_uint8: bool = True
    lpips: bool = False
    ssim_window: str = "gaussian"

    def __post_init__(self) -> None:
        if self.ssim_window not in ("gaussian", "uniform"):
            raise ValueError(f"ssim_window must be 'gaussian' or 'uniform', got {self.ssim_window!r}")

    def metric_options(self) -> dict[str, Any]:
        """Keyword arguments shared by :func:`aioir.metrics.psnr` and :func:`aioir.metrics.ssim`."""
        return {
            "crop_border": self.crop_border,
            "y_channel": self.y_channel,
            "round_uint8": self.round_uint8,
        }

    def ssim_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`aioir.metrics.ssim` (adds ``window``)."""
        return {**self.metric_options(), "window": self.ssim_window}

    @property
    def min_size(self) -> int:
        """The smallest image side the protocol can measure: the border crop on both sides plus
        SSIM's window (11 px Gaussian, 7 px uniform).

        >>> get_protocol("mioir").min_size, get_protocol("airnet").min_size
        (19, 7)
        """
        return 2 * self.crop_border + (11 if self.ssim_window == "gaussian" else 7)

    def size_requirement(self) -> str:
        """Why :attr:`min_size`, in words (for error messages).

        >>> get_protocol("mioir").size_requirement()
        "protocol 'mioir' needs at least 19 x 19 px (a 4-px border crop on each side + SSIM's 11 x 11 window)"
        """
        k = 11 if self.ssim_window == "gaussian" else 7
        crop = f"a {self.crop_border}-px border crop on each side + " if self.crop_border else ""
        return (f"protocol {self.name!r} needs at least {self.min_size} x {self.min_size} px "
                f"({crop}SSIM's {k} x {k} window)")

    def describe(self) -> str:
        """One line naming every option, printed under each results table.

        >>> print(get_protocol("airnet").describe())
        Protocol 'airnet': PSNR/SSIM on RGB, no border crop, float values in [0, 1] (data range 1, no uint8 rounding); SSIM 7x7 uniform window with sample covariance (scikit-image defaults), valid region, mean over channels.
        """  # noqa: E501 - the doctest's expected output is one line
        channel = "the Y channel (BT.601, MATLAB rgb2ycbcr)" if self.y_channel else "RGB"
        crop = f"{self.crop_border}-px border crop" if self.crop_border else "no border crop"
        scale = (
            "uint8-rounded values (0-255)"
            if self.round_uint8
            else "float values in [0, 1] (data range 1, no uint8 rounding)"
        )
        window = (
            "11x11 Gaussian window (sigma 1.5)"
            if self.ssim_window == "gaussian"
            else "7x7 uniform window with sample covariance (scikit-image defaults)"
        )
        text = (
            f"Protocol '{self.name}': PSNR/SSIM on {channel}, {crop}, {scale}; "
            f"SSIM {window}, valid region, mean over channels"
        )
        if self.lpips:
            text += "; LPIPS (AlexNet) on RGB"
        return text + "."

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields."""
        return asdict(self)


#: Presets: MiOIR (and TUR/Art on its settings), AirNet/PromptIR (skimage on [0, 1]), DA-CLIP.
PROTOCOLS: dict[str, Protocol] = {
    "mioir": Protocol("mioir", crop_border=4, y_channel=False, round_uint8=True),
    "airnet": Protocol(
        "airnet", crop_border=0, y_channel=False, round_uint8=False, ssim_window="uniform"
    ),
    "daclip": Protocol("daclip", crop_border=4, y_channel=False, round_uint8=True, lpips=True),
}


def get_protocol(name: str | Protocol) -> Protocol:
    """The preset called ``name`` (a :class:`Protocol` is returned unchanged).

    >>> get_protocol("mioir").crop_border
    4
    >>> get_protocol("miior")
    Traceback (most recent call last):
    ...
    ValueError: unknown protocol 'miior'; did you mean 'mioir'? Known: airnet, daclip, mioir
    """
    if isinstance(name, Protocol):
        return name
    if name not in PROTOCOLS:
        raise ValueError(
            f"unknown protocol {name!r}{suggest(name, PROTOCOLS)} Known: {', '.join(sorted(PROTOCOLS))}"
        )
    return PROTOCOLS[name]
