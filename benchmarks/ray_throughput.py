"""Env runners on Ray: agent steps/s with 1 and 2 runners side by side, and per-update costs.

One process, one local Ray cluster (``--cpus`` CPUs). Each repeat trains, in turn (A, B, C, A,
B, C...), an estimator in this process (no Ray), one with 1 runner and one with 2 runners,
all with ``--num-envs`` environments in total, and times ``fit(--steps)`` after a warm-up
``fit`` (tracing, runner start-up). Printed per configuration: the median agent steps/s, and for
the runners the per-update costs summed by the iteration (``RayOnPolicyIteration.costs``): the
bytes of a segment, the ``ray.put`` of the weights, the slowest runner's collection, the whole
gather round trip. Then, on the last 2-runner estimator: the weight broadcast (``ray.put`` plus
every runner setting the weights, median of 20) and the learner step alone (the agent's ``train``
on one gathered batch, compiled, median of 50).

    .venv/bin/python benchmarks/ray_throughput.py --agent a2c --env CartPole-v1 --num-envs 8 \
        --steps 20000 --repeats 3

Prints figures; never fails a test run.
"""

import argparse
import logging
import statistics
import time

import softrl_tf

import ray
import tensorflow as tf

ESTIMATORS = {"a2c": softrl_tf.A2C, "softq": softrl_tf.SoftQ}
CONFIGS = {"in-process": {}, "1 runner": {"runners": 1, "ray_address": "local"}}
CONFIGS["2 runners"] = {"runners": 2, "ray_address": "local"}


def one_run(args, settings):
    """Steps/s of ``fit(args.steps)`` after a warm-up, and the estimator (still open)."""
    model = ESTIMATORS[args.agent](args.env, preset=args.preset, num_envs=args.num_envs, **settings)
    model.fit(args.warmup, progress=False)
    costs = dict(getattr(model._trainer.iteration, "costs", {}))
    started = time.perf_counter()
    model.fit(args.steps, progress=False)
    rate = args.steps / (time.perf_counter() - started)
    after = getattr(model._trainer.iteration, "costs", None)
    if after is not None:
        costs = {k: after[k] - costs[k] for k in after}
    return rate, costs, model


def broadcast_s(model, repeats=20):
    """Median seconds of ``ray.put`` of the weights plus every runner setting them."""
    policy = model.agent.collect_policy
    weights = [v.numpy() for v in policy.variables()]
    state = policy.generator.state.numpy()
    runners = model._trainer.scale_out.runners
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        ref = ray.put(weights)
        ray.get([r.set_weights.remote(ref, state) for r in runners])
        times.append(time.perf_counter() - started)
    return statistics.median(times), sum(w.nbytes for w in weights)


def learner_step_s(model, repeats=50):
    """Median seconds of the agent's compiled ``train`` on one gathered batch."""
    experience = model._trainer.iteration.segment()
    train = tf.function(model.agent.train, autograph=False)
    train(experience)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        float(train(experience).loss)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", default="a2c", choices=sorted(ESTIMATORS))
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--preset", default=None)
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level=logging.ERROR)
    rates = {name: [] for name in CONFIGS}
    costs = {name: [] for name in CONFIGS}
    last = None
    try:
        for repeat in range(args.repeats):
            for name, settings in CONFIGS.items():
                if last is not None:  # its runners hold CPUs of the cluster
                    last.close()
                rate, cost, last = one_run(args, settings)
                rates[name].append(rate)
                costs[name].append(cost)
                print(f"repeat {repeat} {name}: {rate:,.0f} agent steps/s", flush=True)
        print(f"\n{args.agent} on {args.env}, {args.num_envs} envs in total, {args.steps} steps")
        base = statistics.median(rates["in-process"])
        for name in CONFIGS:
            median = statistics.median(rates[name])
            line = f"{name:>11}: {median:9,.0f} agent steps/s ({median / base:.2f}x in-process)"
            summed = costs[name][-1]
            if summed:
                n = summed["segments"]
                line += (
                    f"; per update: segment {summed['segment_bytes'] / n:,.0f} bytes, put "
                    f"{1e3 * summed['put_s'] / n:.2f} ms, slowest runner collect "
                    f"{1e3 * summed['collect_s'] / n:.2f} ms, gather round trip "
                    f"{1e3 * summed['gather_s'] / n:.2f} ms"
                )
            print(line)
        seconds, size = broadcast_s(last)
        print(f"weight broadcast to 2 runners ({size:,} bytes): {1e3 * seconds:.2f} ms")
        learner = learner_step_s(last)
        batch = args.num_envs * last.agent.n_steps
        print(
            f"learner step ({batch} transitions, {tf.config.list_logical_devices()[-1].name}): "
            f"{1e3 * learner:.2f} ms = {batch / learner:,.0f} agent steps/s at most"
        )
    finally:
        if last is not None:
            last.close()
        ray.shutdown()


if __name__ == "__main__":
    main()
