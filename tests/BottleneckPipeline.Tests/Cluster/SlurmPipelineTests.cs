using System.Text.Json.Nodes;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Extract;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Cluster;

/// <summary>A flowers subset and the single-process run of the pipeline on it, which every Slurm run must equal bit for bit.</summary>
public sealed class ClusterFixture : IDisposable
{
    public const string NoExport = "evaluate:\n  export: false"; // the export check is not what these tests are about

    private readonly TempDir _dir = new();
    public string Data { get; } = "";
    public FaultRig? Reference { get; }

    public ClusterFixture()
    {
        if (Environment.GetEnvironmentVariable("BP_TEST_CLUSTER") != "1") return;
        // 120 images: 30 per shard of four, so a task runs long enough to be killed mid-run.
        Data = TestIndex.CopyFlowers(_dir["data"], classes: 5, perClass: 24);
        Reference = new FaultRig(_dir["reference"], Data, extraYaml: NoExport);
        Reference.RunAll();
    }

    public string NewDir(string name) => _dir[name];

    public void Dispose() => _dir.Dispose();
}

/// <summary>
/// The pipeline through a real Slurm cluster (make test-cluster): 4 shards equal the single
/// process, also with one task requeued and one cancelled mid-run, and shards of a mis-set array
/// that overlap still put each vector in the cache once.
/// </summary>
[Trait("Category", "Cluster")]
public class SlurmPipelineTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private static readonly TimeSpan ChainTimeout = TimeSpan.FromMinutes(10);

    private FaultRig Reference => fixture.Reference!;

    [ClusterFact]
    public void Four_shards_through_the_scheduler_equal_the_single_process_run()
    {
        var rig = new FaultRig(fixture.NewDir("four-shards"), fixture.Data, extraYaml: ClusterFixture.NoExport);
        var (code, output) = Slurm.Submit(rig.ConfigPath, shards: 4, wait: true);
        Assert.True(code == 0, output);
        Assert.Contains("squeue -j", output); // it says how to watch

        AssertSameAsReference(rig);
        var report = rig.ExtractReport;
        Assert.Equal(0, report["extracted"]!.GetValue<int>()); // the shards covered everything
        Assert.Equal(rig.ContentIds().Count, report["reused"]!.GetValue<int>());
        Assert.Equal(4, report["shards"]!["summaries"]!.GetValue<int>());
        Assert.Equal(rig.ContentIds().Count, report["shards"]!["extracted"]!.GetValue<int>());
        Assert.False(Directory.Exists(Path.Combine(rig.ReportsDir, "shards"))); // summaries absorbed, their folder gone
        // The finishing job ran the data doctor before Evaluate, which reports its findings.
        Assert.True(File.Exists(Path.Combine(rig.ReportsDir, "dataset_issues.json")), "the chain ran no Audit");
        Assert.NotNull(System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(rig.ReportsDir, "evaluation.json")))!["dataset_issues"]);
    }

    [ClusterFact]
    public void A_task_requeued_and_a_task_cancelled_mid_run_then_resubmitted_still_equal_the_single_process_run()
    {
        var rig = new FaultRig(fixture.NewDir("killed"), fixture.Data, extraYaml: ClusterFixture.NoExport);
        var (code, output) = Slurm.Submit(rig.ConfigPath, shards: 4, wait: false);
        Assert.True(code == 0, output);
        var chain = Slurm.Ids(output);

        // As a node failure would: Slurm kills the task and runs it again (it was submitted --requeue).
        Assert.True(KillMidRun(rig, chain.Extract, task: 1, id => Slurm.Run("scontrol", "requeue", id)), "task 1 was never caught mid-run");
        // As a person would: the task is gone, and the finishing job with it (afterok can no longer hold).
        Assert.True(KillMidRun(rig, chain.Extract, task: 2, id => Slurm.Run("scancel", id)), "task 2 was never caught mid-run");

        var ended = Slurm.WaitForEnd(ChainTimeout, chain.Extract, chain.Finish);
        Assert.Equal("CANCELLED", ended[$"{chain.Extract}_2"]["JobState"]);
        Assert.Equal("CANCELLED", ended[chain.Finish]["JobState"]);
        Assert.Equal("COMPLETED", ended[$"{chain.Extract}_1"]["JobState"]);
        Assert.Equal("1", ended[$"{chain.Extract}_1"]["Restarts"]);

        // Resubmitted: the finished shards return at once, shard 2 embeds what it had not.
        var again = Slurm.Submit(rig.ConfigPath, shards: 4, wait: true);
        Assert.True(again.ExitCode == 0, again.Output);
        AssertSameAsReference(rig);
    }

    [ClusterFact]
    public void Overlapping_shards_of_a_mis_set_array_put_each_vector_in_the_cache_once()
    {
        var rig = new FaultRig(fixture.NewDir("overlap"), fixture.Data, extraYaml: ClusterFixture.NoExport);
        rig.RunOk("Ingest");
        // Two arrays over the same images: quarters and halves, running side by side.
        string SubmitArray(string array, int shards)
        {
            var (code, output) = Slurm.Run("sbatch", "--parsable", $"--array={array}", $"--chdir={RepoPaths.Root}",
                $"--output={rig.Dir}/overlap-%A_%a.out", Path.Combine(Slurm.DeployDir, "extract-shard.sbatch"),
                Slurm.BinDir, rig.ConfigPath, shards.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.True(code == 0, output);
            return output.Trim().Split(';')[0];
        }
        var quarters = SubmitArray("0-3", 4);
        var halves = SubmitArray("0-1", 2);
        var ended = Slurm.WaitForEnd(ChainTimeout, quarters, halves);
        Assert.Equal(6, ended.Count);
        Assert.All(ended.Values, j => Assert.Equal("COMPLETED", j["JobState"]));

        var finish = rig.RunOk("Extract");
        Assert.Contains("extract: 0 extracted", finish.Output);
        var shards = rig.ExtractReport["shards"]!;
        Assert.Equal(6, shards["summaries"]!.GetValue<int>());
        Assert.Equal("2,4", shards["counts"]!.GetValue<string>());
        // Every image embedded once in all: no two shards did the same one.
        Assert.Equal(rig.ContentIds().Count, shards["extracted"]!.GetValue<int>());
        Assert.Equal(0, rig.ExtractReport["quarantined"]!.GetValue<int>());
        rig.RunOk("TrainHead");
        rig.RunOk("Evaluate");
        AssertSameAsReference(rig);
    }

    /// <summary>Vectors, head and test accuracy equal the single-process run's, and the cache holds each vector once.</summary>
    private void AssertSameAsReference(FaultRig rig)
    {
        Assert.Equal(Reference.Examples(), rig.Examples());
        Assert.Equal(Reference.Fingerprint, rig.Fingerprint);
        FaultRig.AssertSameVectors(Reference.Vectors(), rig.Vectors());
        var cache = BottleneckCache.Open(rig.CacheDir, rig.Fingerprint, loadVectors: false);
        Assert.Equal(rig.ContentIds().Count, cache.Count);
        Assert.Equal(cache.Count, cache.Stats.Records); // no record twice
        Assert.Equal(0, cache.Stats.Duplicates);
        Assert.Equal(0, cache.Stats.RejectedRecords); // a killed task's cut-off record was repaired away
        var (a, b) = (Reference.Head(), rig.Head());
        Assert.Equal(a.LabelNames, b.LabelNames);
        Assert.True(a.Weights.AsSpan().SequenceEqual(b.Weights), "head weights differ");
        Assert.True(a.Bias.AsSpan().SequenceEqual(b.Bias), "head bias differs");
        Assert.Equal(Reference.Evaluation().Accuracy.Value, rig.Evaluation().Accuracy.Value);
        Assert.Equal(Reference.Evaluation().Images, rig.Evaluation().Images);
    }

    /// <summary>Waits for the array task to be running with some, not all, of its shard's vectors
    /// in the cache, then kills it; false when the task finished before it could be caught.</summary>
    private bool KillMidRun(FaultRig rig, string arrayJob, int task, Func<string, (int ExitCode, string Output)> kill)
    {
        var id = $"{arrayJob}_{task}";
        var shard = new ExtractShard(task, 4);
        var deadline = DateTime.UtcNow + ChainTimeout;
        while (DateTime.UtcNow < deadline)
        {
            var jobs = Slurm.Jobs(arrayJob);
            if (jobs.TryGetValue(id, out var job) && job["JobState"] == "RUNNING")
            {
                var mine = rig.ContentIds().Where(shard.Contains).Select(ContentKey.FromHex).ToList();
                var cache = BottleneckCache.Open(rig.CacheDir, Reference.Fingerprint, loadVectors: false);
                var done = mine.Count(cache.Contains);
                if (done == mine.Count) return false;
                if (done > 0)
                {
                    var (code, output) = kill(id);
                    Assert.True(code == 0, output);
                    return true;
                }
            }
            else if (job is not null && job["JobState"] is "COMPLETED" or "FAILED" or "CANCELLED") return false;
            Thread.Sleep(50);
        }
        return false;
    }
}
