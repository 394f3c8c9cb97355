"""Testable hypotheses from contribution modes, scored against the virtual retina.

:func:`generate` turns the modes of a layer into predictions (block the pathway a mode's channels
stand for; which cells change, which way, by how much, how sure), as :class:`HypothesisSettings`
say; :func:`test` performs each experiment in the virtual retina and scores the agreement, next to
shuffled controls; :func:`pathway_coverage` says which pathways confirmed hypotheses name;
:func:`to_markdown` says it all in plain sentences. :func:`design_tests` designs, from the CNN, the
stimulus under which each hypothesis is easiest to test (:func:`optimise_stimulus` with
:class:`DesignSettings`), and :func:`check_designs` tries it on the virtual retina;
:func:`preferred_stimuli` the stimulus each mode prefers at a cell, beside the cell's most exciting
input, and :func:`irf_agreement` compares it with the mode's IRF.
:func:`phenomena_by_mode` says which modes carry the retina's phenomena (flash onsets, object
motion) in the CNN (:class:`PhenomenaSettings`), and :func:`check_phenomena` tests each claim by
blocking the leading mode's pathway (:func:`mode_pathways`) against control blocks, by fixed
:class:`PhenomenonRules`.
"""

from .coverage import pathway_coverage
from .design import design_tests, with_designs
from .design_check import check_designs
from .effects import released_change
from .generate import combine, generate
from .optimise import DesignSettings, optimise_stimulus
from .phenomena import PhenomenaSettings, phenomena_by_mode
from .phenomena_check import PhenomenonRules, check_phenomena, mode_pathways
from .preferred import irf_agreement, preferred_stimuli
from .report import to_markdown
from .score import recovery_score, score, test, type_agreement
from .settings import HypothesisSettings

__all__ = [
    "DesignSettings",
    "HypothesisSettings",
    "PhenomenaSettings",
    "PhenomenonRules",
    "check_designs",
    "check_phenomena",
    "combine",
    "design_tests",
    "generate",
    "irf_agreement",
    "mode_pathways",
    "optimise_stimulus",
    "pathway_coverage",
    "phenomena_by_mode",
    "preferred_stimuli",
    "recovery_score",
    "released_change",
    "score",
    "test",
    "to_markdown",
    "type_agreement",
    "with_designs",
]
