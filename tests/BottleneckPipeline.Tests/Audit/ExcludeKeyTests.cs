using System.Security.Cryptography;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Index;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Audit;

/// <summary>dataset.exclude through `make` on <see cref="DoctorPipeline"/>'s flowers: what it leaves out, what it re-runs, and what it does not.</summary>
[Collection(DoctorPipelineCollection.Name)]
public sealed class ExcludeKeyTests(DoctorPipeline run)
{
    [Fact]
    public void Excluding_a_train_and_a_test_photo_retrains_and_rescores_without_them_and_re_extracts_nothing()
    {
        // The first run's workspace copied to one of this test's own, with its config naming an exclude list: as if the key
        // were added to that config (the same index, cache and reports; the fixture's run stays as it was for the other tests).
        var name = "exclude-" + Guid.NewGuid().ToString("N")[..8];
        var workspace = Path.Combine(run.Dir.Path, name + "-ws");
        CopyDirectory(run.Workspace, workspace);
        // The copy is released, as `make clean` releases a workspace: this test's config claims it on its first run.
        File.Delete(Path.Combine(workspace, "owner.json"));
        var testPhoto = TestPhotos(run.Workspace).First(p => p != run.LeakSource);
        var dir = run.Dir[name];
        Directory.CreateDirectory(dir);
        var exclude = Path.Combine(dir, "exclude.txt");
        File.WriteAllText(exclude, $"# the data doctor's leak, and a test photo\n{DoctorPipeline.LeakCopy}\n\n" +
                                   $"{testPhoto}   # scored no more\nroses/no_such_photo.jpg\n");
        var config = Path.Combine(dir, "pipeline.yaml");
        File.WriteAllText(config, DoctorPipeline.Config($"../{name}-ws", "  exclude: exclude.txt"));
        var cache = Snapshot(Path.Combine(workspace, "cache"));
        var examples = Examples(workspace);
        var testBefore = run.Json("evaluation.json")["accuracy"]!["images"]!.GetValue<int>();

        var r = DoctorPipeline.Make(config);
        Assert.True(r.ExitCode == 0, r.Output);
        // Nothing re-extracted: Extract's inputs are those it had, and every cache file is as it was.
        Assert.Contains("extract: up to date", r.StdOut);
        Assert.Equal(cache, Snapshot(Path.Combine(workspace, "cache")));
        // The listed photos stay in the index; the line that names nothing gets a warning naming it.
        Assert.Equal(examples, Examples(workspace));
        Assert.Contains($"  WARNING: {exclude}:5: no image in the index has the path 'roses/no_such_photo.jpg'", r.StdOut);
        Assert.Contains($"  dataset.exclude ({exclude}): 2 images left out of training and scoring (1 train, 0 validation, 1 test)", r.StdOut);
        // Trained and scored without them: one train vector fewer, one test image fewer.
        Assert.Equal(DoctorPipeline.TrainCount(run.First) - 1, DoctorPipeline.TrainCount(r));
        var report = Json(workspace, "evaluation.json");
        Assert.Equal(testBefore - 1, report["accuracy"]!["images"]!.GetValue<int>());
        Assert.DoesNotContain(report["misclassified"]!.AsArray(), m => m!["path"]!.GetValue<string>() == testPhoto);
        // The doctor ran again without the copy: no leak left, so no accuracy without leaks.
        Assert.DoesNotContain("Audit: up to date", r.StdOut);
        var issues = DatasetIssues.TryRead(Path.Combine(workspace, "reports", "dataset_issues.json"))!;
        Assert.DoesNotContain(issues.NearDuplicates, d => d.A == DoctorPipeline.LeakCopy || d.B == DoctorPipeline.LeakCopy);
        Assert.Equal(issues.ClassCounts.Values.Sum(c => c.Values.Sum()), examples - 2);
        Assert.Null(report["accuracy_without_leaks"]);
        Assert.Equal(0, report["dataset_issues"]!["leaks"]!.GetValue<int>());

        // Again with nothing changed: every stage up to date. A comment, the order or naming a photo by its content id changes nothing either.
        var id = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(run.Data, testPhoto))));
        File.WriteAllText(exclude, $"roses/no_such_photo.jpg\n{id}\n# a note\n./{DoctorPipeline.LeakCopy}\n");
        var again = DoctorPipeline.Make(config);
        Assert.True(again.ExitCode == 0, again.Output);
        foreach (var upToDate in new[] { "extract: up to date", "TrainHead: up to date", "Audit: up to date", "(up to date)" })
            Assert.Contains(upToDate, again.StdOut);
        Assert.Contains($"  WARNING: {exclude}:1: no image in the index has the path 'roses/no_such_photo.jpg'", again.StdOut);

        // Taking the key out brings the first results back (the train count and the leak), still without extracting.
        File.WriteAllText(config, DoctorPipeline.Config($"../{name}-ws"));
        var back = DoctorPipeline.Make(config);
        Assert.True(back.ExitCode == 0, back.Output);
        Assert.Contains("extract: up to date", back.StdOut);
        Assert.Equal(DoctorPipeline.TrainCount(run.First), DoctorPipeline.TrainCount(back));
        Assert.Equal(testBefore, Json(workspace, "evaluation.json")["accuracy"]!["images"]!.GetValue<int>());
        Assert.NotNull(Json(workspace, "evaluation.json")["accuracy_without_leaks"]);
        Assert.Equal(cache, Snapshot(Path.Combine(workspace, "cache")));
    }

    [Fact]
    public void A_missing_exclude_file_is_a_config_error_that_names_the_key()
    {
        var dir = run.Dir["missing-exclude"];
        Directory.CreateDirectory(dir);
        var config = Path.Combine(dir, "pipeline.yaml");
        File.WriteAllText(config, DoctorPipeline.Config("../missing-exclude-ws", "  exclude: not-there.txt"));
        var r = StageProcess.Run("TrainHead", "--config", config);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"{config}:5: key 'dataset.exclude' names {Path.Combine(dir, "not-there.txt")}, which does not exist", r.StdErr);
        Assert.False(Directory.Exists(Path.Combine(run.Dir.Path, "missing-exclude-ws")), "nothing may be written on a config error");
    }

    private static System.Text.Json.Nodes.JsonNode Json(string workspace, string name) =>
        System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(workspace, "reports", name)))!;

    private static List<string> TestPhotos(string workspace)
    {
        using var db = IndexDb.Open(Path.Combine(workspace, "index.sqlite"), create: false);
        using var cmd = db.Command("SELECT rel_path FROM examples WHERE split = 'test' ORDER BY rel_path;");
        using var r = cmd.ExecuteReader();
        var paths = new List<string>();
        while (r.Read()) paths.Add(r.GetString(0));
        return paths;
    }

    private static long Examples(string workspace)
    {
        using var db = IndexDb.Open(Path.Combine(workspace, "index.sqlite"), create: false);
        return Convert.ToInt64(db.Scalar("SELECT COUNT(*) FROM examples;"), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Every file under the folder with its size, modification time and SHA-256.</summary>
    private static Dictionary<string, string> Snapshot(string dir) =>
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories).ToDictionary(f => Path.GetRelativePath(dir, f), f =>
            $"{new FileInfo(f).Length} {File.GetLastWriteTimeUtc(f).Ticks} {Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f)))}");

    private static void CopyDirectory(string from, string to)
    {
        foreach (var d in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, d)));
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, f));
            File.Copy(f, target);
            File.SetLastWriteTimeUtc(target, File.GetLastWriteTimeUtc(f));
        }
    }
}
