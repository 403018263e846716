using BottleneckPipeline.Tests.Extract;
using System.Diagnostics;

namespace BottleneckPipeline.Tests.Faults;

/// <summary>kill -9 at random (seeded) moments of each stage, then a rerun: the result is the uninterrupted one.</summary>
[Trait("Category", "Faults")]
public class KillResumeTests
{
    [Fact]
    public void Killed_stages_resume_to_exactly_the_uninterrupted_result()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 5, perClass: 6);
        // The export check re-runs the backbone on the test images: not what this test is about.
        const string noExport = "evaluate:\n  export: false";
        var reference = new FaultRig(t["reference"], data, extraYaml: noExport);
        var durations = new Dictionary<string, TimeSpan>();
        foreach (var stage in FaultRig.Stages)
        {
            var clock = Stopwatch.StartNew();
            reference.RunOk(stage);
            durations[stage] = clock.Elapsed;
        }

        var killed = new FaultRig(t["killed"], data, extraYaml: noExport);
        var random = new Random(20261128);
        var kills = new List<string>();
        foreach (var stage in FaultRig.Stages)
        {
            if (stage != "Evaluate")
            {
                // Moments spread over the stage's own run time (startup included), so some land in
                // loading, some in the work and some in writing its outputs.
                for (var i = 0; i < 3; i++)
                {
                    var at = durations[stage] * (0.15 + 0.85 * random.NextDouble());
                    var r = killed.RunAndKill(stage, at);
                    kills.Add($"{stage}@{at.TotalMilliseconds:0}ms:{(r.Killed ? "killed" : $"finished {r.ExitCode}")}");
                    if (!r.Killed) Assert.True(r.ExitCode == 0, $"{stage} exited {r.ExitCode}:\n{r.Output}");
                }
            }
            killed.RunOk(stage);
        }
        // Extract runs long enough that its kills always land mid-work: the interesting case.
        Assert.Contains(kills, k => k.StartsWith("Extract@", StringComparison.Ordinal) && k.EndsWith(":killed", StringComparison.Ordinal));

        var why = string.Join(", ", kills);
        Assert.True(reference.Examples().SequenceEqual(killed.Examples()), "examples differ after " + why);
        Assert.Equal(reference.Fingerprint, killed.Fingerprint);
        FaultRig.AssertSameVectors(reference.Vectors(), killed.Vectors());
        var (a, b) = (reference.Head(), killed.Head());
        Assert.Equal(a.LabelNames, b.LabelNames);
        Assert.True(a.Weights.AsSpan().SequenceEqual(b.Weights), "head weights differ after " + why);
        Assert.True(a.Bias.AsSpan().SequenceEqual(b.Bias), "head bias differs after " + why);
        Assert.Equal(reference.Evaluation().TestAccuracy, killed.Evaluation().TestAccuracy);
        Assert.Equal(reference.Evaluation().TestImages, killed.Evaluation().TestImages);

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

    private static string StageName(string stage) => stage switch
    {
        "TrainHead" => "train-head",
        _ => stage.ToLowerInvariant(),
    };
}
