"""The synthesis benchmarks' composite designs compute what they claim: the
``EncoderLIF`` of ``bench/bench_lif_synth.py`` (a written-table encoder streaming into
the LIF network) gives the golden class and counters, so its resource figures are those
of a working datapath, not of logic the tools could optimise away."""

import importlib.util
from pathlib import Path

import numpy as np
from amaranth.sim import Simulator
from simbound import until

from dynalign.hw.encoder.ref import FixedEncoder
from dynalign.hw.encoder.regs import encoder_registers, table_writes
from dynalign.hw.formats import CODE
from dynalign.hw.lif.ref import random_network, ref_network
from dynalign.hw.lif.rtl import RD_CLS, config_writes, rd_stat_addr
from dynalign.hw.systems import EncoderConfig

spec = importlib.util.spec_from_file_location(
    "bench_lif_synth", Path(__file__).parents[1] / "bench" / "bench_lif_synth.py")
bls = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bls)


def test_encoder_lif_matches_golden():
    config = EncoderConfig(system="mixed", delta=2.0, tmax=0.4, dt=0.1, samples=3)
    k = 2
    topo = [3 * k, 6, 4]
    rng = np.random.default_rng(3)
    net = random_network(rng, topo, in_shift=6, rate=0.3)
    lif = bls.make_dut(topo, 2, 8, "memory")
    dut = bls.EncoderLIF(lif, max_features=k, max_T=3)
    gold = FixedEncoder(config)
    codes = rng.integers(CODE.min_int, CODE.max_int + 1, size=(3, k))
    samples, _ = gold.encode(codes)
    res = ref_network(samples, net)
    got = []

    async def bench(ctx):
        for a, v in encoder_registers(config, n_features=k).items():
            ctx.set(dut.enc_reg_we, 1)
            ctx.set(dut.enc_reg_addr, a)
            ctx.set(dut.enc_reg_data, v)
            await ctx.tick()
        ctx.set(dut.enc_reg_we, 0)
        ctx.set(dut.enc_tw_en, 1)
        for code, index, value, sat in table_writes(
                config, range(CODE.min_int, CODE.max_int + 1)):
            ctx.set(dut.enc_tw_code, code)
            ctx.set(dut.enc_tw_index, index)
            ctx.set(dut.enc_tw_data, value)
            ctx.set(dut.enc_tw_sat, sat)
            await ctx.tick()
        ctx.set(dut.enc_tw_en, 0)
        ctx.set(dut.enc_refill, 1)
        await ctx.tick()
        ctx.set(dut.enc_refill, 0)
        for a, d in config_writes(lif, net, config.samples):
            ctx.set(dut.lif_cfg.addr, a)
            ctx.set(dut.lif_cfg.data, d)
            ctx.set(dut.lif_cfg.we, 1)
            await ctx.tick()
        ctx.set(dut.lif_cfg.we, 0)
        for row in codes:
            for code in row:
                ctx.set(dut.enc_i_codes.payload.code, int(code))
                ctx.set(dut.enc_i_codes.valid, 1)
                await until(ctx, dut.enc_i_codes.ready, limit=200_000,
                            what="enc_i_codes.ready")
            ctx.set(dut.enc_i_codes.valid, 0)
            await until(ctx, dut.lif_o.valid, limit=500_000, what="lif_o.valid (class)")
            vals = {}
            for addr in [RD_CLS] + [rd_stat_addr(j, "spikes") for j in range(len(topo) - 1)]:
                ctx.set(dut.lif_rd_addr, addr)
                await ctx.tick().repeat(2)
                vals[addr] = ctx.get(dut.lif_rd_data)
            got.append((ctx.get(dut.lif_o.payload), vals))
            ctx.set(dut.lif_o.ready, 1)
            await ctx.tick()
            ctx.set(dut.lif_o.ready, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert len(got) == len(codes)
    for n, (cls, vals) in enumerate(got):
        assert cls == res.cls[n] and vals[RD_CLS] == res.cls[n]
        for j in range(len(topo) - 1):
            assert vals[rd_stat_addr(j, "spikes")] == res.spikes[n, j], (n, j)
    assert res.spikes.sum() > 0           # the check sees spikes, not an idle network
