"""What a trained SD model computes: the copy intervention, probes of its recurrent state, and
accuracy and evidence by position. Analyses read a model and a test set and return tables
(pandas DataFrames); they never train, and the model is left as it was.

A model is a :class:`~synthetic.model.LanguageModel` (one run's, or one member of an ensemble:
:meth:`synthetic.members.StackedLanguageModel.member`; :func:`synthetic.ensemble.train_ensemble`
with ``keep_models=True`` returns them, :func:`synthetic.results.load_model` reads back a run a
sweep kept the weights of) or, for the intervention, any module mapping
``input_ids [B, T]`` to logits ``[B, T, V]`` (:mod:`~synthetic.analysis.mechanisms`). The data is
an SD test split, segment or segments (:func:`synthetic.tasks.build_split`; task kinds ``sd`` and
``sd_distractor``, any JR-p).

* :func:`copy_intervention` -> one row per example: the shared token's logit with its first copy,
  its second, both or neither replaced by absent tokens; :func:`effects` (per-copy gains and their
  interaction), :func:`summarize_intervention` (means and standard errors by order, size, position).
  Counting adds the copies' evidence (interaction about 0); storing the first set and checking the
  second needs both (a positive interaction).
* :func:`position_profile` -> accuracy and a copy's evidence by its index in its set (primacy,
  recency).
* :func:`probe_first_set` -> linear probes of each layer's state (kv, z, the short convolutions'
  buffers, the whole state) at the separator and at the end: AUC, recall at |A| and bits about the
  first set (:func:`decoded_set_bits`) beside log2 C(n, |A|) and the exact one-pass bound.
* :func:`seen_before_probe` -> from the state after the first set, the model reads each set token
  as the next one; one linear map of its responses says which were in A: what the model's own
  read reaches of its memory (the same measures as the state probes).
* :func:`position_summary` -> from the copy intervention's table, accuracy and interaction by the
  quarter of A and of B that holds the shared token's copy.
* :func:`matched_order_effect` -> the order effect over all examples and at matched copy
  positions (mirror slices compared where the shared token's copies sit at the same columns):
  position weighting predicts 0 there, a bounded memory of the first set about the whole effect.
* :func:`placed_order_effect` -> the same comparison by intervention: every example's copies moved
  (:func:`place_copies`) to places both orders share, example by example.
* :func:`distractor_side` -> on the distractor task, accuracy and answers with the distractor read
  second (as generated) and first (:func:`swap_sets`): a membership check answers both, a vote
  weighted by set follows where the distractor is.
* :func:`~synthetic.analysis.copy_rank.copy_rank_table` -> per one-pass slice, accuracy and the
  shared token's rank AUC among the example's other set tokens (the same |A| + |B| - 2
  competitors in both orders of a mirror pair) and among B's, as trained or with the copy read
  against the first set alone.
* :func:`~synthetic.analysis.b_places.place_profile_table` -> the logit and the answers each place
  of B draws apart from membership, as trained or with the separator hidden from the short
  convolutions.
* :class:`CountingModel`, :class:`StoreFirstModel` (and :meth:`StoreFirstModel.bounded`, a
  fixed-size memory): constructed models whose mechanism is known.

Module map: ``sd_layout`` (where the sets and the copies are), ``readout`` (running a model),
``intervention``, ``profiles``, ``states`` (reading a layer's state by name), ``probes``, ``seen_before``,
``information`` (bits), ``matched`` (order effect at matched positions), ``placement`` (the same,
placed), ``distractor_side``, ``first_set_read`` (the copy read against A alone), ``wrong_answers``,
``copy_rank``, ``b_places``, ``mechanisms``.
"""

from synthetic.analysis.distractor_side import SIDES, distractor_side, swap_sets
from synthetic.analysis.information import (
    decoded_set_bits,
    first_set_bits,
    log2_binomial,
    one_pass_bound_bits,
)
from synthetic.analysis.intervention import (
    CONDITIONS,
    EFFECTS,
    MEASURES,
    copy_intervention,
    effects,
    summarize_intervention,
)
from synthetic.analysis.matched import matched_order_effect
from synthetic.analysis.mechanisms import CountingModel, StoreFirstModel
from synthetic.analysis.placement import place_copies, placed_order_effect
from synthetic.analysis.positions import position_summary
from synthetic.analysis.probes import POINTS, RidgeProbe, fit_ridge, probe_first_set
from synthetic.analysis.profiles import position_profile
from synthetic.analysis.sd_layout import SharedCopies, absent_tokens, order_of, shared_copies
from synthetic.analysis.seen_before import seen_before_probe
from synthetic.analysis.states import StateComponent, model_states, state_features, state_tensors

__all__ = [
    "CONDITIONS",
    "EFFECTS",
    "MEASURES",
    "POINTS",
    "SIDES",
    "CountingModel",
    "RidgeProbe",
    "SharedCopies",
    "StateComponent",
    "StoreFirstModel",
    "absent_tokens",
    "copy_intervention",
    "decoded_set_bits",
    "distractor_side",
    "effects",
    "first_set_bits",
    "fit_ridge",
    "log2_binomial",
    "matched_order_effect",
    "model_states",
    "one_pass_bound_bits",
    "order_of",
    "place_copies",
    "placed_order_effect",
    "position_profile",
    "position_summary",
    "probe_first_set",
    "seen_before_probe",
    "shared_copies",
    "state_features",
    "state_tensors",
    "summarize_intervention",
    "swap_sets",
]
