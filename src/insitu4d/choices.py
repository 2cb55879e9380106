"""The named choices of the stages, in one module light enough for the command line to build its options from.

Each stage's module re-exports its own tuple (``insitu4d.recon.METHOD_CHOICES`` is
:data:`RECON_METHOD_CHOICES`); this is the only place they are written.
"""

__all__ = ["RECON_METHODS", "RECON_METHOD_CHOICES", "BACKENDS", "FBP_FILTERS", "ALIGN_METHODS", "DRIFT_METHODS",
           "DENOISE_METHODS", "VSTS", "TILT_UNITS", "CONTRASTS", "RECON_REGIONS"]

#: Reconstruction methods (:func:`insitu4d.recon.reconstruct`).
RECON_METHODS = ("fbp", "sirt", "sart", "cgls", "tv", "asd-pocs")
#: What ``method`` accepts: a method, or "auto" (:func:`insitu4d.recon.auto.choose_method`).
RECON_METHOD_CHOICES = ("auto", *RECON_METHODS)
#: Projector backends (:mod:`insitu4d.recon.backends`).
BACKENDS = ("auto", "cpu", "gpu", "astra")
#: Where a reconstruction runs (:mod:`insitu4d.recon.region`): the box that holds the sample, the whole field,
#: or "auto" (the box for large fields).
RECON_REGIONS = ("auto", "sample", "whole")
#: FBP filters (:func:`insitu4d.recon.algorithms.fourier_filter`).
FBP_FILTERS = ("ramp", "shepp-logan", "hann")
#: Image registration of tilt-series alignment (:func:`insitu4d.align.align_tilt_series`).
ALIGN_METHODS = ("xcorr", "mi", "com")
#: Image registration of movie drift correction (:func:`insitu4d.align.movie.movie_drift`).
DRIFT_METHODS = ("xcorr", "mi")
#: Denoising methods (:func:`insitu4d.denoise.denoise`).
DENOISE_METHODS = ("tv", "nlm", "wavelet", "gaussian", "bm3d")
#: Variance stabilisations of denoising.
VSTS = ("anscombe", "none")
#: Units the tilt angles of a file may be given in (:func:`insitu4d.io.read_tilt_series`).
TILT_UNITS = ("deg", "rad")
#: Particle contrast in a 2D frame (:func:`insitu4d.segment_frame.segment_frame`): decided, dark (bright field), bright
#: (HAADF).
CONTRASTS = ("auto", "dark", "bright")
