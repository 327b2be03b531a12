"""What guides the search: any scorer (no agent needed), returns gathered with the run's own reward,
the network scorer on its device, and the replay of a found program."""

import copy
import heapq
import subprocess
import sys

import numpy as np
import pytest
import torch

from agents.networks import DuelingQNetwork, KnownRewardQNetwork, PolicyValueNetwork, network_scorer
from environment import ToyCorewarEnv, make_reward
from synthesis.search import RewardScorer, guided_search, plan_action, reward_first_search
from toycorewar import ActionTable, MachineConfig, final_registers
from training.evaluation import evaluate, search_policy

MACHINE = MachineConfig()
TABLE = ActionTable(MACHINE)
SETTINGS = [{"circular": c, "positive": p, "cumulative": u} for c in (True, False) for p in (True, False)
            for u in (True, False)]
NOT_POSITIVE = {"circular": True, "positive": False, "cumulative": True}
FAR_TARGET = [131, 77, 250, 19]  # no program of 5 instructions reaches it (exact synthesizer)
SCALE = 0.5  # a power of two: scaled integer returns add up exactly, in any order
BUDGET = 30


def fixed_q(actions: list[int]) -> np.ndarray:
    """Q-values that are a fixed pseudo-random function of the prefix; stop is never chosen."""
    q = np.random.default_rng([7, len(actions), *actions]).uniform(-300.0, 0.0, MACHINE.num_actions)
    q[TABLE.stop_action] = -np.inf
    return q


class RecordingScorer:
    """A scorer with no network: `fixed_q`, recording the nodes it is asked about."""

    kind = "q"

    def __init__(self) -> None:
        self.calls: list[tuple[int, ...]] = []

    def scores(self, actions, registers, target):
        self.calls.append(tuple(actions))
        return fixed_q(actions)


def environment_return(actions: list[int], settings: dict, target: list[int]) -> float:
    """The scaled return of a prefix, as the environment pays it."""
    env = ToyCorewarEnv(target=target, **settings)
    env.reset(seed=0)
    return sum(env.step(a)[1] for a in actions) * SCALE


def expected_expansions(settings: dict, target: list[int]) -> list[tuple[int, ...]]:
    """Best first written plainly, with no pruning: the greedy program's nodes, then the best child by
    environment return + Q, every child pushed at once."""
    greedy, actions = [], []
    for _ in range(MACHINE.max_length):
        greedy.append(list(actions))
        actions = actions + [int(np.argmax(fixed_q(actions)))]
    order = [tuple(p) for p in greedy]
    heap = []

    def push(prefix):
        gathered, q = environment_return(prefix, settings, target), fixed_q(prefix)
        for a in range(TABLE.stop_action):
            heapq.heappush(heap, (-(gathered + q[a]), prefix + [a]))

    for prefix in greedy:
        push(prefix)
    while len(order) < len(greedy) + BUDGET:
        _, child = heapq.heappop(heap)
        if len(child) < MACHINE.max_length and tuple(child) not in order:
            order.append(tuple(child))
            push(child)
    return order


def test_guided_search_ranks_children_by_the_runs_own_reward_when_it_is_not_positive():
    searched = {}
    for name, settings in (("not positive", NOT_POSITIVE), ("positive", {**NOT_POSITIVE, "positive": True})):
        scorer = RecordingScorer()
        found = guided_search(scorer, MACHINE, make_reward("Specific_register_values", settings), FAR_TARGET,
                              budget=BUDGET, reward_scale=SCALE, prune=False)
        assert not found.solved and found.expansions == BUDGET
        assert scorer.calls == expected_expansions(settings, FAR_TARGET), name
        searched[name] = scorer.calls
    assert searched["not positive"] != searched["positive"]  # the two rewards rank differently here


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(k if v else "not_" + k for k, v in s.items()))
def test_reward_scorer_scores_each_instruction_by_the_reward_the_environment_pays(settings):
    scorer = RewardScorer(MACHINE, make_reward("Specific_register_values", settings))
    rng = np.random.default_rng(0)
    for length in range(MACHINE.max_length):
        env = ToyCorewarEnv(**settings)
        obs, _ = env.reset(options={"target": rng.integers(0, 256, 4).tolist(),
                                    "reg_init": rng.integers(0, 256, 4).tolist()})
        prefix = rng.integers(0, TABLE.stop_action, size=length).tolist()
        for action in prefix:
            obs, *_ = env.step(action)
        scores = scorer.scores(prefix, obs["registers"], obs["target"])
        paid = [copy.deepcopy(env).step(a)[1] for a in range(TABLE.stop_action)]
        assert scores[:TABLE.stop_action].tolist() == paid
        assert scores[TABLE.stop_action] == -np.inf


@pytest.mark.parametrize("settings", [NOT_POSITIVE, {**NOT_POSITIVE, "cumulative": False}])
def test_searches_with_a_non_positive_reward_solve_tasks(settings):
    reward = make_reward("Specific_register_values", settings)
    torch.manual_seed(0)
    network = KnownRewardQNetwork(MACHINE, 8, 16, 1, settings, reward_scale=0.1)
    for target in ([0, 5, 10, 25], [4, 14, 18, 238]):
        found = guided_search(network_scorer(network, MACHINE), MACHINE, reward, target, budget=3000, reward_scale=0.1)
        assert found.solved and final_registers(found.program) == target
    assert reward_first_search(MACHINE, reward, [0, 5, 10, 25], budget=3000).solved


@pytest.mark.parametrize("kind", ["q", "known_reward_q", "policy"])
def test_network_scorer_gives_q_values_or_log_probabilities(kind):
    torch.manual_seed(0)
    network = {"q": lambda: DuelingQNetwork(MACHINE, 8, 16, 1),
               "known_reward_q": lambda: KnownRewardQNetwork(MACHINE, 8, 16, 1, NOT_POSITIVE, 0.1),
               "policy": lambda: PolicyValueNetwork(MACHINE, 8, 16, 1)}[kind]()
    scorer = network_scorer(network, MACHINE, torch.device("cpu"))
    assert scorer.kind == ("policy" if kind == "policy" else "q") and scorer.device == torch.device("cpu")
    registers, target = np.array([3, 0, 0, 9]), np.array([3, 5, 7, 9])
    scores = scorer.scores([3, 17], registers, target)
    program = torch.tensor([[3, 17, 225, 225, 225]])
    with torch.no_grad():
        output = network(program, torch.tensor([[3.0, 0, 0, 9]]), torch.tensor([[3.0, 5, 7, 9]]))
    expected = torch.log_softmax(output[0], dim=1)[0] if kind == "policy" else output[0]
    assert scores.shape == (MACHINE.num_actions,) and np.allclose(scores, expected.numpy())


def test_plan_action_replays_a_program_then_stops():
    program = [TABLE.instructions[a] for a in (3, 25, 212)]
    assert [plan_action(TABLE, program, k) for k in range(5)] == [3, 25, 212, TABLE.stop_action, TABLE.stop_action]
    assert plan_action(TABLE, [], 0) == TABLE.stop_action


def test_search_policy_writes_the_programs_guided_search_finds():
    torch.manual_seed(0)
    network = DuelingQNetwork(MACHINE, 8, 16, 1)
    reward = make_reward("Specific_register_values")
    targets = np.array([[0, 5, 10, 25], [0, 0, 0, 7], FAR_TARGET])
    reg_inits = np.zeros_like(targets)
    policy = search_policy(network, MACHINE, reward, targets, reg_inits, budget=300, device="cpu")
    evaluation = evaluate(policy, MACHINE, reward, targets, reg_inits)
    for task, target in zip(evaluation.tasks, targets.tolist(), strict=True):
        found = guided_search(network_scorer(network, MACHINE), MACHINE, reward, target, budget=300)
        if found.solved:  # the program, then stop unless it fills every slot
            written = [str(i) for i in found.program] + ["stop"] * (len(found.program) < MACHINE.max_length)
            assert task.solved and task.instructions == written
    assert [t.solved for t in evaluation.tasks][:2] == [True, True] and not evaluation.tasks[2].solved


class DeviceRecorder(torch.nn.Module):
    """Q-values of zero (on the CPU), recording the device of every input it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.devices: set[torch.device] = set()

    def forward(self, program, registers, target):
        self.devices |= {program.device, registers.device, target.device}
        return torch.zeros(len(program), MACHINE.num_actions)


def test_the_search_and_search_policy_feed_the_network_on_the_device_they_are_given():
    # "meta" stands in for a GPU: a CPU tensor reaching the network would show up as device cpu.
    network, meta = DeviceRecorder(), torch.device("meta")
    guided_search(network_scorer(network, MACHINE, meta), MACHINE, make_reward("Specific_register_values"),
                  [0, 5, 10, 25], budget=20)
    targets = np.array([[0, 0, 0, 7]])
    search_policy(network, MACHINE, make_reward("Specific_register_values"), targets, np.zeros_like(targets),
                  budget=5, device=meta)(
        {"program": np.full((1, 5), 225), "registers": np.zeros((1, 4)), "target": targets})
    assert network.devices == {meta}


def test_the_search_needs_no_agent_and_the_environment_no_torch():
    code = ("import sys, synthesis.search, environment; "
            "assert not [m for m in sys.modules if m == 'torch' or m.startswith('agents')], 'imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
