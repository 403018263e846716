using BottleneckPipeline.Cache;
using BottleneckPipeline.Tests.Fixtures;
using Xunit.Abstractions;

namespace BottleneckPipeline.Tests.Faults;

/// <summary>kill -9 at chosen moments of each stage, then a rerun: the result is the uninterrupted one.</summary>
[Trait("Category", "Faults")]
public class KillResumeTests(ITestOutputHelper output)
{
    /// <summary>A moment in a stage's run, seen from outside: the kill lands as soon as it is observed.</summary>
    private sealed record Moment(string Name, Func<int, bool> Reached);

    [Fact]
    public void Killed_stages_resume_to_exactly_the_uninterrupted_result()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 5, perClass: 6);
        // The export check re-runs the backbone on the test images: not what this test is about.
        const string noExport = "evaluate:\n  export: false";
        var reference = new FaultRig(t["reference"], data, extraYaml: noExport);
        reference.RunAll();
        var images = reference.ContentIds().Count;

        var killed = new FaultRig(t["killed"], data, extraYaml: noExport);
        var kills = new List<string>();
        foreach (var stage in FaultRig.Stages)
        {
            // Moments from start-up to writing the outputs, each observed, not timed: a loaded machine
            // moves when they happen, not whether the kill lands in them.
            foreach (var moment in Moments(stage, killed, reference.Fingerprint, images))
            {
                var r = StageProcess.RunAndKillWhen(stage, moment.Reached, "--config", killed.ConfigPath);
                kills.Add($"{stage}@{moment.Name}:{(r.Killed ? "killed" : $"finished {r.ExitCode}")}");
                if (!r.Killed) Assert.True(r.ExitCode == 0, $"{stage} exited {r.ExitCode}:\n{r.Output}");
            }
            killed.RunOk(stage);
        }
        output.WriteLine(string.Join("\n", kills));
        // Extract's moments all come before its last batch is committed: each kill lands mid-work.
        Assert.Equal(3, kills.Count(k => k.StartsWith("Extract@", StringComparison.Ordinal) && k.EndsWith(":killed", StringComparison.Ordinal)));

        var why = string.Join(", ", kills);
        Assert.True(reference.Examples().SequenceEqual(killed.Examples()), "examples differ after " + why);
        Assert.Equal(reference.Fingerprint, killed.Fingerprint);
        FaultRig.AssertSameVectors(reference.Vectors(), killed.Vectors());
        var (a, b) = (reference.Head(), killed.Head());
        Assert.Equal(a.LabelNames, b.LabelNames);
        Assert.True(a.Weights.AsSpan().SequenceEqual(b.Weights), "head weights differ after " + why);
        Assert.True(a.Bias.AsSpan().SequenceEqual(b.Bias), "head bias differs after " + why);
        Assert.Equal(reference.Evaluation().Accuracy.Value, killed.Evaluation().Accuracy.Value);
        Assert.Equal(reference.Evaluation().Images, killed.Evaluation().Images);

        // Every stage's last run is recorded as finished; a killed one stays 'running' (a crash, visibly).
        var runs = killed.Runs();
        foreach (var stage in FaultRig.Stages)
            Assert.Equal($"{StageName(stage)} ok", runs.Last(r => r.StartsWith(StageName(stage) + " ", StringComparison.Ordinal)));
        Assert.Contains("extract running", runs);
        // And nothing half-written is left behind as an artifact.
        Assert.Empty(Directory.GetFiles(killed.Workspace, "*.tmp", SearchOption.AllDirectories));

        // A rerun of everything is now a no-op.
        foreach (var stage in FaultRig.Stages.Skip(1))
            Assert.Contains("up to date", killed.RunOk(stage).Output, StringComparison.Ordinal);
    }

    /// <summary>
    /// Where to kill each stage: its lock taken (loading), its runs row written, then its own work:
    /// vectors committed to the cache for Extract, its first output file rewritten for the others.
    /// Lazy on purpose: each "before" is read when its moment comes up, just before that run starts.
    /// </summary>
    private static IEnumerable<Moment> Moments(string stage, FaultRig rig, string fingerprint, int images)
    {
        var name = StageName(stage);
        if (stage != "Extract")
            yield return new Moment("lock-taken",
                pid => ReadOrEmpty(Path.Combine(rig.Workspace, ".lock.owner")).StartsWith($"{name} pid {pid}\n", StringComparison.Ordinal));
        var runsBefore = RunRows(rig, name);
        yield return new Moment("runs-row", _ => RunRows(rig, name) > runsBefore);
        if (stage == "Extract")
        {
            // Batches of 8 are committed at 8, 16, 24 and 30 vectors; each run resumes where the last stopped.
            yield return new Moment("first-batch", _ => CachedVectors(rig, fingerprint) >= 1);
            yield return new Moment("half", _ => CachedVectors(rig, fingerprint) >= images / 2);
        }
        else
        {
            // The first of the stage's outputs: a kill then lands before the rest are written.
            var output = Path.Combine(rig.ReportsDir,
                stage switch { "Ingest" => "ingest.json", "TrainHead" => "training_log.csv", _ => "confusion_matrix.png" });
            var before = File.GetLastWriteTimeUtc(output);
            yield return new Moment("output-written", _ => File.GetLastWriteTimeUtc(output) != before);
        }
    }

    private static string ReadOrEmpty(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException) { return ""; }
    }

    /// <summary>Rows of the stage in the runs table; 0 while the index does not exist yet.</summary>
    private static int RunRows(FaultRig rig, string stage)
    {
        try { return rig.Query($"SELECT CAST(count(*) AS TEXT) FROM runs WHERE stage = '{stage}';").Select(int.Parse).Single(); }
        catch (Microsoft.Data.Sqlite.SqliteException) { return 0; }
    }

    /// <summary>Vectors committed (whole and checksummed) to the cache so far.</summary>
    private static int CachedVectors(FaultRig rig, string fingerprint)
    {
        try { return BottleneckCache.Open(rig.CacheDir, fingerprint, loadVectors: false).Count; }
        catch (IOException) { return 0; } // a torn segment removed by the stage between listing and reading
    }

    private static string StageName(string stage) => stage switch
    {
        "TrainHead" => "train-head",
        _ => stage.ToLowerInvariant(),
    };
}
