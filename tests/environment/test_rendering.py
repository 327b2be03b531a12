"""Every render mode of `metadata` works: `ansi` text, `rgb_array` frames of the documented shape that
change with the registers, `human` printing; videos with Gymnasium's RecordVideo and SB3's
VecVideoRecorder."""

from __future__ import annotations

import importlib.util

import gymnasium
import numpy as np
import pytest

import environment
from environment.rendering import FRAME_SHAPE
from toycorewar import ActionTable, MachineConfig, parse_program

TABLE = ActionTable(MachineConfig())
LOAD_7_R2 = TABLE.encode_instruction(parse_program("ld %7, r2")[0])
NEEDS_MOVIEPY = pytest.mark.skipif(
    importlib.util.find_spec("moviepy") is None,
    reason="no video encoder: moviepy (with imageio-ffmpeg) writes the videos; it is in requirements-optional.txt")


def play(env, actions):
    env.reset(seed=0)
    for action in actions:
        env.step(action)


def test_every_render_mode_of_metadata_makes_resets_steps_and_renders():
    for mode in environment.ToyCorewarEnv.metadata["render_modes"]:
        env = gymnasium.make("ToyCorewar-v0", target=[0, 10, 30, 250], render_mode=mode)
        env.reset(seed=0)
        env.step(LOAD_7_R2)
        env.render()
        env.close()


def test_rgb_array_frame_has_the_documented_shape_and_changes_with_the_registers():
    env = gymnasium.make("ToyCorewar-v0", target=[0, 10, 30, 250], render_mode="rgb_array")
    env.reset(seed=0)
    empty = env.render()
    assert FRAME_SHAPE == (240, 480, 3)
    assert empty.shape == FRAME_SHAPE and empty.dtype == np.uint8
    assert empty.min() < 100 < 200 < empty.max()  # something is drawn on the white page
    _, _, _, _, info = env.step(LOAD_7_R2)
    assert info["registers"] == [0, 7, 0, 0]
    loaded = env.render()
    assert loaded.shape == FRAME_SHAPE
    assert (loaded != empty).any(axis=2).sum() > 100
    again = gymnasium.make("ToyCorewar-v0", target=[0, 10, 30, 250], render_mode="rgb_array")
    play(again, [LOAD_7_R2])
    np.testing.assert_array_equal(again.render(), loaded)  # a frame is a function of the episode's state


def test_a_frame_before_the_first_reset_is_a_clear_error():
    env = environment.ToyCorewarEnv(render_mode="rgb_array")
    with pytest.raises(RuntimeError, match=r"render\(\) called before reset\(\); call reset\(\) first"):
        env.render()


def test_ansi_is_the_program_then_the_registers_and_target():
    env = gymnasium.make("ToyCorewar-v0", target=[0, 10, 30, 250], render_mode="ansi")
    play(env, [LOAD_7_R2])
    assert env.render() == "ld %7, r2\nregisters [0, 7, 0, 0] target [0, 10, 30, 250]\n"


def test_human_prints_at_every_reset_and_step_and_render_returns_none(capsys):
    env = gymnasium.make("ToyCorewar-v0", target=[0, 10, 30, 250], render_mode="human")
    play(env, [LOAD_7_R2])
    printed = capsys.readouterr().out
    assert printed == ("registers [0, 0, 0, 0] target [0, 10, 30, 250]\n"
                       "ld %7, r2\nregisters [0, 7, 0, 0] target [0, 10, 30, 250]\n")
    assert env.render() is None


@NEEDS_MOVIEPY
def test_gymnasium_record_video_writes_a_video_of_each_episode(tmp_path):
    from gymnasium.wrappers import RecordVideo

    env = RecordVideo(gymnasium.make("ToyCorewar-v0", target=[0, 10, 30, 250], render_mode="rgb_array"),
                      str(tmp_path / "videos"), episode_trigger=lambda episode: True, disable_logger=True)
    env.action_space.seed(0)
    for episode in range(2):
        env.reset(seed=episode)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            done = terminated or truncated
    env.close()
    videos = sorted((tmp_path / "videos").glob("*.mp4"))
    assert [video.name for video in videos] == ["rl-video-episode-0.mp4", "rl-video-episode-1.mp4"]
    assert all(video.stat().st_size > 1000 for video in videos)


@NEEDS_MOVIEPY
def test_sb3_vec_video_recorder_writes_a_video(tmp_path):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecVideoRecorder

    env = make_vec_env("ToyCorewar-v0", n_envs=2, seed=0, env_kwargs={"target": [0, 10, 30, 250]})
    env = VecVideoRecorder(env, str(tmp_path), record_video_trigger=lambda step: step == 0, video_length=12)
    env.reset()
    for _ in range(12):
        env.step(np.array([env.action_space.sample() for _ in range(2)]))
    env.close()
    videos = list(tmp_path.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000
