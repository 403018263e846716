using System.Globalization;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Extract;

/// <summary>
/// Shard <see cref="Index"/> of <see cref="Count"/>: the content ids whose position (first 64 bits,
/// see <see cref="IdRange"/>; uniform whatever the dataset) falls in the Index-th of Count equal ranges. Ranges, not a modulo,
/// so that shards of different counts overlap only where their ranges do, and a piece of a shard is one contiguous range that
/// a lock can cover.
/// </summary>
internal readonly record struct ExtractShard(int Index, int Count)
{
    public const int MaxCount = 1_000_000;

    public bool Contains(string contentId) => ShardOf(IdRange.Position(contentId)) == Index;

    public int ShardOf(ulong position) => (int)(((UInt128)position * (uint)Count) >> 64);

    /// <summary>The positions of this shard: from ceil(Index * 2^64 / Count) to just before the next shard's first.</summary>
    public IdRange Range => new(Start(Index), Index == Count - 1 ? ulong.MaxValue : Start(Index + 1) - 1);

    private ulong Start(int index) => (ulong)((((UInt128)(uint)index << 64) + (uint)Count - 1) / (uint)Count);

    public override string ToString() => $"{Index}/{Count}";

    /// <summary>
    /// The shard this run is, from the options or else the scheduler's environment; null for a
    /// plain (whole) Extract.
    /// <list type="bullet">
    /// <item><c>--shard I/N</c>: that shard; <c>--shard none</c>: a plain run whatever the environment.</item>
    /// <item><c>--shards N</c>: the index is SLURM_ARRAY_TASK_ID or, in a Kubernetes Indexed Job,
    /// JOB_COMPLETION_INDEX, taken as it is (so a single task resubmitted as <c>--array=2</c> is still shard 2).</item>
    /// <item>neither: a Slurm array task is shard (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) of
    /// SLURM_ARRAY_TASK_COUNT; JOB_COMPLETION_INDEX alone is refused, as its count is not in the environment.</item>
    /// </list>
    /// </summary>
    /// <param name="environment">reads an environment variable (null when unset).</param>
    public static ExtractShard? Resolve(string? shardOption, int? countOption, Func<string, string?> environment)
    {
        if (shardOption is not null)
        {
            if (shardOption.Trim().Equals("none", StringComparison.OrdinalIgnoreCase)) return null;
            var shard = Parse(shardOption, "--shard");
            if (countOption is { } n && n != shard.Count)
                throw new ConfigException($"--shard {shardOption} and --shards {n} disagree on the shard count. Pass one of them.");
            return shard;
        }

        var slurmId = environment("SLURM_ARRAY_TASK_ID");
        var k8sIndex = environment("JOB_COMPLETION_INDEX");
        if (countOption is { } count)
        {
            if (slurmId is null && k8sIndex is null)
                throw new ConfigException($"--shards {count} needs this task's index: pass --shard I/{count}, " +
                                          "or run it as a Slurm array task (SLURM_ARRAY_TASK_ID) or in a Kubernetes Indexed Job (JOB_COMPLETION_INDEX).");
            var (name, value) = slurmId is not null ? ("SLURM_ARRAY_TASK_ID", slurmId) : ("JOB_COMPLETION_INDEX", k8sIndex!);
            return Validated(ParseInt(value, name), count, $"{name}={value} with --shards {count}");
        }
        if (slurmId is not null && environment("SLURM_ARRAY_TASK_COUNT") is { } slurmCount)
        {
            var min = environment("SLURM_ARRAY_TASK_MIN") is { } m ? ParseInt(m, "SLURM_ARRAY_TASK_MIN") : 0;
            var index = ParseInt(slurmId, "SLURM_ARRAY_TASK_ID") - min;
            return Validated(index, ParseInt(slurmCount, "SLURM_ARRAY_TASK_COUNT"),
                $"Slurm array task {slurmId} (SLURM_ARRAY_TASK_MIN {min}, SLURM_ARRAY_TASK_COUNT {slurmCount}); for arrays with gaps pass --shards N");
        }
        if (k8sIndex is not null)
            throw new ConfigException($"JOB_COMPLETION_INDEX={k8sIndex} is set but the shard count is not: " +
                                      "pass --shards N (the Job's completions), or --shard none for a whole Extract.");
        return null;
    }

    public static ExtractShard Parse(string text, string what)
    {
        var parts = text.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var count))
            throw new ConfigException($"{what} '{text}' is not a shard: write I/N, e.g. 0/4 for the first of four shards (I from 0 to N-1).");
        return Validated(index, count, $"{what} {text}");
    }

    private static ExtractShard Validated(int index, int count, string source)
    {
        if (count is < 1 or > MaxCount)
            throw new ConfigException($"{source}: the shard count must be between 1 and {MaxCount}.");
        if (index < 0 || index >= count)
            throw new ConfigException($"{source}: shard index {index} is outside 0..{count - 1}.");
        return new ExtractShard(index, count);
    }

    private static int ParseInt(string value, string name) =>
        int.TryParse(value, NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new ConfigException($"{name}='{value}' is not a whole number.");
}
