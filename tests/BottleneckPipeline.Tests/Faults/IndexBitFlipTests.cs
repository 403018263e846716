using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;
using Xunit.Abstractions;

namespace BottleneckPipeline.Tests.Faults;

/// <summary>
/// A single flipped bit anywhere in a real index (seeded positions, many trials), then the whole
/// pipeline through the built executables: each trial ends either in success with the same examples,
/// classes and head as before the flip, or in exit 3 naming index.sqlite and the fix (delete it, run
/// Ingest again, the cache keeps every vector). Never exit 1, never another message.
/// </summary>
[Trait("Category", "Faults")]
public class IndexBitFlipTests(ITestOutputHelper output)
{
    /// <summary>Trials per run; BP_INDEX_FLIPS sets more for a longer search.</summary>
    private static int Trials => int.TryParse(Environment.GetEnvironmentVariable("BP_INDEX_FLIPS"), out var n) ? n : 48;

    [Fact]
    public void A_flipped_bit_in_the_index_ends_in_the_right_result_or_exit_3_naming_the_index_and_the_fix()
    {
        using var t = new TempDir();
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 3, perClass: 5));
        rig.RunAll();
        var pristine = Snapshot(rig.Workspace);
        var index = File.ReadAllBytes(rig.IndexPath);
        var examples = rig.Examples();
        var classes = rig.Query("SELECT name FROM classes ORDER BY label_id;");
        var head = File.ReadAllBytes(rig.HeadPath);

        // Most of the file is free space, where a flip changes nothing: three trials in four flip a bit
        // of a byte in use (not zero), the fourth one anywhere.
        var used = Enumerable.Range(0, index.Length).Where(i => index[i] != 0).ToArray();
        var random = new Random(20240611);
        var failures = new List<string>();
        var outcomes = new SortedDictionary<string, int>(StringComparer.Ordinal);
        string? refusedAt = null;
        for (var trial = 0; trial < Trials; trial++)
        {
            Restore(rig.Workspace, pristine);
            var at = trial % 4 == 3 ? random.Next(index.Length) : used[random.Next(used.Length)];
            var bit = random.Next(8);
            var flipped = (byte[])index.Clone();
            flipped[at] ^= (byte)(1 << bit);
            File.WriteAllBytes(rig.IndexPath, flipped);
            var what = $"trial {trial}: bit {bit} of byte {at} (page {at / 4096 + 1})";

            string outcome = "ok";
            foreach (var stage in FaultRig.Stages)
            {
                var r = rig.Run(stage);
                if (r.ExitCode == 0) continue;
                outcome = $"{stage} exit {r.ExitCode}";
                if (!IsCorruptIndexRefusal(r, rig.IndexPath)) failures.Add($"{what}: {stage} exited {r.ExitCode}:\n{r.Output}");
                refusedAt ??= what;
                break;
            }
            if (outcome == "ok")
            {
                if (!rig.Examples().SequenceEqual(examples)) failures.Add($"{what}: every stage succeeded, but the examples differ from before the flip");
                else if (!rig.Query("SELECT name FROM classes ORDER BY label_id;").SequenceEqual(classes)) failures.Add($"{what}: the classes differ");
                else if (!File.ReadAllBytes(rig.HeadPath).AsSpan().SequenceEqual(head)) failures.Add($"{what}: the head differs");
            }
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }
        output.WriteLine($"{Trials} trials over {index.Length} bytes ({used.Length} in use): " +
                         string.Join(", ", outcomes.Select(kv => $"{kv.Key}: {kv.Value}")));
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
        Assert.NotNull(refusedAt); // the trials met some corruption, or they prove little

        // The advice works: delete the index and its side files, run again, and the same result comes back.
        Restore(rig.Workspace, pristine);
        var damaged = (byte[])index.Clone();
        for (var i = 4096; i < 8192; i++) damaged[i] ^= 0xA5; // the whole of page 2
        File.WriteAllBytes(rig.IndexPath, damaged);
        var refused = rig.Run("Ingest");
        Assert.True(IsCorruptIndexRefusal(refused, rig.IndexPath), refused.Output);
        foreach (var f in new[] { "", "-wal", "-shm" }) File.Delete(rig.IndexPath + f);
        rig.RunAll();
        Assert.Equal(examples, rig.Examples());
        Assert.Equal(head, File.ReadAllBytes(rig.HeadPath));
    }

    /// <summary>Exit 3 with one error line naming the index and the fix.</summary>
    private static bool IsCorruptIndexRefusal(StageProcess.Result r, string indexPath) =>
        r.ExitCode == ExitCodes.BadInput
        && r.StdErr.Trim().Split('\n').Length == 1
        && r.StdErr.Contains($"index {indexPath} is corrupt", StringComparison.Ordinal)
        && r.StdErr.Contains("Delete it (and its -wal and -shm files beside it) and run Ingest again", StringComparison.Ordinal)
        && r.StdErr.Contains("the bottleneck cache keeps every vector", StringComparison.Ordinal);

    /// <summary>Every file of the workspace but the exported model (45 MB, and no input of any stage).</summary>
    private static Dictionary<string, byte[]> Snapshot(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Where(f => Path.GetFileName(f) != "model.onnx")
            .ToDictionary(f => Path.GetRelativePath(dir, f), File.ReadAllBytes);

    /// <summary>The workspace exactly as snapshotted: files written since are removed, the snapshotted ones rewritten.</summary>
    private static void Restore(string dir, Dictionary<string, byte[]> snapshot)
    {
        foreach (var f in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).ToList())
            if (!snapshot.ContainsKey(Path.GetRelativePath(dir, f)) && Path.GetFileName(f) != "model.onnx") File.Delete(f);
        foreach (var (rel, bytes) in snapshot)
        {
            var path = Path.Combine(dir, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, bytes);
        }
    }
}
