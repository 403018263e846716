using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Audit;
using BottleneckPipeline.Config;
using BottleneckPipeline.Index;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Audit;

/// <summary>The Audit stage on real flowers with planted faults (see <see cref="AuditedFlowers"/>).</summary>
[Collection(AuditedFlowersCollection.Name)]
public sealed class AuditStageTests(AuditedFlowers flowers)
{
    [Fact]
    public void The_moved_photo_is_a_suspect_with_its_true_class_suggested()
    {
        var report = flowers.Report();
        var moved = Assert.Single(report.LabelIssues, s => s.Path == AuditedFlowers.Moved);
        Assert.Equal("roses", moved.Given);
        Assert.Equal("daisy", moved.Suggested);
        Assert.InRange(moved.Score, Doctor.SuspectScore, 1);
        // Among the tenth most suspicious of 95 photos (the others at its level are odd photos of the flowers
        // themselves and the rose's near-copy filed under daisy), and the list runs most suspicious first.
        Assert.True(report.LabelIssues.ToList().IndexOf(moved) < 10, string.Join(", ", report.LabelIssues.Select(s => $"{s.Path} {s.Score:0.00}")));
        Assert.Equal(report.LabelIssues.OrderByDescending(s => s.Score).Select(s => s.Path), report.LabelIssues.Select(s => s.Path));
        Assert.Contains(moved.Split, AuditStage.SplitNames);
    }

    [Fact]
    public void The_near_copies_are_found_and_marked_by_label_and_split()
    {
        var report = flowers.Report();
        var copy = Assert.Single(report.NearDuplicates, d => Is(d, AuditedFlowers.CopySource, AuditedFlowers.Copy));
        var (splitA, splitB) = (SplitOf(AuditedFlowers.CopySource), SplitOf(AuditedFlowers.Copy));
        Assert.Equal(splitA == splitB ? NearDuplicateKinds.SameSplit : NearDuplicateKinds.Leak, copy.Kind);
        var conflict = Assert.Single(report.NearDuplicates, d => Is(d, AuditedFlowers.ConflictSource, AuditedFlowers.ConflictCopy));
        Assert.Equal(NearDuplicateKinds.Conflict, conflict.Kind);
        Assert.InRange(copy.Similarity, Doctor.CandidateCosine, 1.0001);
        // Distinct photos of the same flower are not near-duplicates: the planted pairs are all there is.
        Assert.Equal(2, report.NearDuplicates.Count);
        Assert.Equal(NearDuplicateKinds.Conflict, report.NearDuplicates[0].Kind); // conflicts first
    }

    [Fact]
    public void Class_counts_cover_every_image_and_split()
    {
        var report = flowers.Report();
        Assert.Equal(["daisy", "dandelion", "roses"], report.ClassCounts.Keys.Order(StringComparer.Ordinal));
        Assert.All(report.ClassCounts.Values, splits => Assert.Equal(AuditStage.SplitNames, splits.Keys));
        Assert.Equal(flowers.First.Set!.All.Count, report.ClassCounts.Values.Sum(s => s.Values.Sum()));
        // daisy: its 30 and the rose's near-copy; dandelion: 31 and its near-copy; roses: 31 and the moved daisy.
        Assert.Equal([31, 32, 32], report.ClassCounts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => c.Value.Values.Sum()));
        Assert.Null(report.ClassBalanceWarning);
    }

    [Fact]
    public void A_rerun_with_nothing_changed_is_up_to_date_and_writes_nothing()
    {
        var path = ArtifactPaths.DatasetIssues(flowers.Config);
        var written = File.GetLastWriteTimeUtc(path);
        using var db = IndexDb.Open(flowers.Config.IndexPath, create: false);
        var again = AuditStage.Run(flowers.Config, db);
        Assert.True(again.UpToDate);
        Assert.Equal(written, File.GetLastWriteTimeUtc(path));
        Assert.Equal(flowers.Report().InputsHash, again.Issues.InputsHash);
        Assert.Contains("up to date", again.Summary);
    }

    [Fact]
    public void Another_workspace_on_the_same_cache_reuses_the_thumbnails_and_a_train_head_change_reruns_the_audit()
    {
        using var dir = new TempDir();
        string Write(int steps) => AuditedFlowers.WriteConfig(dir["run"], flowers.Data, dir["ws"],
            $"cache:\n  dir: {flowers.Config.CacheDir}\ntrain_head:\n  steps: {steps}\n");
        var thumbnails = Thumbnails.PathIn(flowers.Config.CacheDir);
        var before = File.GetLastWriteTimeUtc(thumbnails);
        var first = AuditedFlowers.Run(ConfigLoader.Load(Write(200)));
        Assert.False(first.UpToDate);
        Assert.Equal(before, File.GetLastWriteTimeUtc(thumbnails)); // every thumbnail it needed was made before
        Assert.Equal(Pairs(flowers.Report()), Pairs(first.Issues));

        var changed = ConfigLoader.Load(Write(150));
        using var db = IndexDb.Open(changed.IndexPath, create: false);
        var second = AuditStage.Run(changed, db);
        Assert.False(second.UpToDate);
        Assert.NotEqual(first.Issues.InputsHash, second.Issues.InputsHash);
        Assert.Equal(second.Issues.InputsHash, DatasetIssues.TryRead(changed)!.InputsHash);
    }

    [Fact]
    public void The_executable_writes_the_report_and_closes_with_the_counts()
    {
        File.Delete(ArtifactPaths.DatasetIssues(flowers.Config));
        var run = StageProcess.Run("Audit", "--config", flowers.Config.SourcePath);
        Assert.True(run.ExitCode == 0, run.Output);
        var last = run.StdOut.Trim().Split('\n').Last();
        var report = flowers.Report();
        Assert.Contains($"{report.LabelIssues.Count} suspected label error", last);
        Assert.Contains($"{report.Leaks} leak", last);
        Assert.Contains($"{report.Conflicts} conflict", last);
        // The same findings as in process (the file keeps 4 decimals).
        Assert.Equal(flowers.First.Issues.LabelIssues.Select(s => (s.Path, s.Suggested)), report.LabelIssues.Select(s => (s.Path, s.Suggested)));
        Assert.Equal(Pairs(flowers.First.Issues), Pairs(report));
    }

    private static IEnumerable<(string, string, string)> Pairs(DatasetIssues issues) => issues.NearDuplicates.Select(d => (d.A, d.B, d.Kind));

    private static bool Is(NearDuplicate d, string a, string b) => (d.A == a && d.B == b) || (d.A == b && d.B == a);

    private string SplitOf(string path)
    {
        using var db = IndexDb.Open(flowers.Config.IndexPath, create: false);
        using var cmd = db.Command("SELECT split FROM examples WHERE rel_path = $p;");
        cmd.Parameters.AddWithValue("$p", path);
        return (string)cmd.ExecuteScalar()!;
    }
}
