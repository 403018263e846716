using BottleneckPipeline.Config;
using BottleneckPipeline.Embedding;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Faults;

/// <summary>The documented exit codes, through the real executables, and runs that meet each other.</summary>
[Trait("Category", "Faults")]
public class ExitCodeTests
{
    [Fact]
    public void An_unknown_config_key_exits_2_naming_the_key_and_line()
    {
        using var t = new TempDir();
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 1), extraYaml: "extract:\n  batch_sise: 4");
        var line = File.ReadAllLines(rig.ConfigPath).ToList().FindIndex(l => l.Contains("batch_sise", StringComparison.Ordinal)) + 1;
        foreach (var stage in FaultRig.Stages)
        {
            var r = rig.Run(stage);
            Assert.True(r.ExitCode == ExitCodes.BadConfig, $"{stage} exited {r.ExitCode}:\n{r.Output}");
            Assert.Contains("batch_sise", r.StdErr, StringComparison.Ordinal);
            Assert.Contains($"{rig.ConfigPath}:{line}:", r.StdErr, StringComparison.Ordinal);
        }
        Assert.False(Directory.Exists(rig.Workspace), "a bad config must stop a stage before it touches the workspace");
    }

    [Fact]
    public void A_missing_dataset_root_exits_3_naming_it()
    {
        using var t = new TempDir();
        var rig = new FaultRig(t["rig"], t["no-such-folder"]);
        var r = rig.Run("Ingest");
        Assert.True(r.ExitCode == ExitCodes.BadInput, $"exited {r.ExitCode}:\n{r.Output}");
        Assert.Contains(t["no-such-folder"], r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void A_held_workspace_lock_exits_4_with_a_clear_message()
    {
        using var t = new TempDir();
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 2));
        using (WorkspaceLock.Acquire(rig.Workspace, "test-holder", TimeSpan.Zero))
        {
            var r = rig.Run("Ingest");
            Assert.True(r.ExitCode == ExitCodes.LockHeld, $"exited {r.ExitCode}:\n{r.Output}");
            Assert.Contains("in use by another run", r.StdErr, StringComparison.Ordinal);
            Assert.Contains("test-holder", r.StdErr, StringComparison.Ordinal);
        }
        rig.RunOk("Ingest"); // released: the next run goes ahead
    }

    [Fact]
    public async Task A_second_run_on_a_busy_workspace_exits_4_or_waits_when_asked()
    {
        using var t = new TempDir();
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 3, perClass: 4));
        rig.RunOk("Ingest");
        // One image becomes a named pipe holding its own bytes: Extract blocks reading it, under the
        // workspace lock, until the test writes them. So the holder provably holds the lock while
        // the other runs start, however slow the machine.
        var blocked = Directory.GetFiles(rig.Dataset, "*.jpg", SearchOption.AllDirectories).Order(StringComparer.Ordinal).First();
        var bytes = File.ReadAllBytes(blocked);
        File.Delete(blocked);
        MakeFifo(blocked);

        var first = Task.Run(() => rig.Run("Extract"));
        var writerOpened = Task.Run(() => new FileStream(blocked, FileMode.Open, FileAccess.Write));
        if (await Task.WhenAny(writerOpened, first) == first)
        {
            using (new FileStream(blocked, FileMode.Open, FileAccess.Read)) { } // let the pending open return
            Assert.Fail($"Extract finished without reading the blocked image:\n{(await first).Output}");
        }
        var owner = File.ReadAllText(Path.Combine(rig.Workspace, ".lock.owner")).Trim();
        Assert.StartsWith("extract pid", owner, StringComparison.Ordinal);

        var second = rig.Run("Extract");
        Assert.True(second.ExitCode == ExitCodes.LockHeld, $"second run exited {second.ExitCode}:\n{second.Output}");
        Assert.Contains(owner, second.StdErr, StringComparison.Ordinal);

        Task<StageProcess.Result> waiting;
        using (var writer = await writerOpened)
        {
            using var lockFile = new FileWatch(Path.Combine(rig.Workspace, ".lock"));
            waiting = Task.Run(() => StageProcess.RunWithEnvironment("Extract",
                new Dictionary<string, string> { ["BP_LOCK_WAIT_SECONDS"] = "300" }, "--config", rig.ConfigPath));
            // Each failed try opens the lock file for writing and closes it: two tries mean it waits.
            lockFile.WaitUntil(w => w.Count(FileEvent.ClosedAfterWrite) >= 2 || waiting.IsCompleted, "the waiting run to try the lock twice");
            if (waiting.IsCompleted) Assert.Fail($"the waiting run did not wait:\n{(await waiting).Output}");
            Assert.False(first.IsCompleted, "the holder finished while blocked");
            writer.Write(bytes);
        }

        var firstResult = await first;
        Assert.True(firstResult.ExitCode == 0, firstResult.Output);
        Assert.Equal(12, rig.ExtractReport["extracted"]!.GetValue<int>());
        var waited = await waiting;
        Assert.True(waited.ExitCode == 0, waited.Output);
        Assert.Contains("up to date", waited.StdOut, StringComparison.Ordinal);
        Assert.Equal(["ingest ok", "extract ok", "extract ok"], rig.Runs()); // the refused run never started
    }

    [Fact]
    public async Task Two_workspaces_sharing_one_cache_extract_at_once_with_the_vectors_of_their_own_images()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 3, perClass: 4);
        var shared = t["shared-cache"];
        var a = new FaultRig(t["a"], data, shared);
        var b = new FaultRig(t["b"], data, shared);
        a.RunOk("Ingest");
        b.RunOk("Ingest");
        var runs = await Task.WhenAll(new[] { a, b }.Select(rig => Task.Run(() => rig.Run("Extract"))));
        foreach (var r in runs) Assert.True(r.ExitCode == 0, r.Output);
        Assert.Equal(a.Fingerprint, b.Fingerprint);

        // The reference does not read a cache: each image's vector as the embedding pipeline hands
        // it over, keyed by the image's own bytes, so a cache that files a vector under the wrong
        // key (or one key for all) shows.
        var files = Directory.GetFiles(data, "*.jpg", SearchOption.AllDirectories);
        var reference = new FaultRig(t["reference"], data);
        var embedded = ImageEmbedder.Embed(ConfigLoader.Load(reference.ConfigPath), files);
        var expected = embedded.ToDictionary(e => e.ContentId!, e => (float[]?)e.Vector);
        Assert.Equal(12, expected.Values
            .Select(v => Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()))).Distinct().Count());
        FaultRig.AssertSameVectors(expected, a.Vectors());
        FaultRig.AssertSameVectors(expected, b.Vectors());
        // Each writer appended to its own segment; a third run finds everything.
        File.Delete(Path.Combine(a.ReportsDir, "extract.json"));
        a.RunOk("Extract");
        Assert.Equal(0, a.ExtractReport["extracted"]!.GetValue<int>());
    }

    [Fact]
    public void Ctrl_c_during_extract_exits_130_keeping_the_vectors_committed_so_far()
    {
        using var t = new TempDir();
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 3, perClass: 6), extraYaml: "extract:\n  batch_size: 1");
        rig.RunOk("Ingest");
        // Interrupt once the first vectors are durable in the cache.
        bool Committed() => Directory.Exists(rig.CacheDir)
            && Directory.EnumerateFiles(rig.CacheDir, "*.bpv", SearchOption.AllDirectories).Any(f => new FileInfo(f).Length > 8);
        var r = StageProcess.RunAndInterruptWhen("Extract", Committed, "--config", rig.ConfigPath);
        Assert.True(r.Killed, "Extract finished before it could be interrupted");
        Assert.True(r.ExitCode == ExitCodes.Interrupted, $"exited {r.ExitCode}:\n{r.Output}");
        Assert.Contains("interrupted", r.StdErr, StringComparison.Ordinal);
        Assert.Equal("extract failed", rig.Runs()[^1]);

        var fingerprint = Path.GetFileName(Assert.Single(Directory.GetDirectories(rig.CacheDir)));
        var kept = rig.Vectors(fingerprint).Count(kv => kv.Value is not null);
        Assert.InRange(kept, 1, 17);
        rig.RunOk("Extract");
        Assert.Equal(18 - kept, rig.ExtractReport["extracted"]!.GetValue<int>());
    }

    private static void MakeFifo(string path)
    {
        using var p = System.Diagnostics.Process.Start("mkfifo", [path])!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }
}
