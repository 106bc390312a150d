"""Device stage: thermal instances per (Ku, chunk) -> chunk files -> ``device_stats.h5``.

One module per concern, from the bottom up:

- :mod:`~dwsynapse.device.chunks`: the plan (which instances each (Ku, chunk) job runs, their
  seeds), the hash of the device configuration, :class:`~dwsynapse.device.chunks.DeviceStageError`;
- :mod:`~dwsynapse.device.resources`: what a chunk job asks Snakemake for (GPU, retries, timeout,
  wall time);
- :mod:`~dwsynapse.device.chunkfile`: the chunk file format (write, read and check);
- :mod:`~dwsynapse.device.engine`: engine dispatch and one chunk through the configured engine;
- :mod:`~dwsynapse.device.guard`: a chunk job's guarded child process and its tries;
- :mod:`~dwsynapse.device.merge`: chunk files -> the device-statistics file, and its summary CSV;
- :mod:`~dwsynapse.device.cli`: the ``device-*`` sub-commands.

Process supervision itself (start, timeout, kill of a process tree) is :mod:`dwsynapse.procguard`,
shared with the mumax3 engine.
"""
