using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Faults;

/// <summary>The dataset changes under the pipeline, or cannot be written: the stages cope and never write into it.</summary>
[Trait("Category", "Faults")]
public class DatasetChangeTests
{
    [Fact]
    public void Images_changed_or_deleted_after_ingest_are_quarantined_and_a_re_ingest_picks_them_up()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 4);
        var rig = new FaultRig(t["rig"], data);
        rig.RunOk("Ingest");
        var files = Directory.GetFiles(data, "*.jpg", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
        var (changed, deleted) = (files[0], files[^1]);
        // Trailing bytes after the JPEG end marker: new content, still a valid image.
        File.AppendAllText(changed, "edited");
        File.Delete(deleted);

        var r = rig.RunOk("Extract");
        Assert.Contains("2 quarantined", r.StdOut, StringComparison.Ordinal);
        var quarantine = rig.Quarantine();
        Assert.Contains($"{Rel(data, changed)}: changed since ingest: re-run Ingest", quarantine);
        Assert.Contains($"{Rel(data, deleted)}: file deleted since ingest: re-run Ingest", quarantine);
        // The other six go on: TrainHead fits the head on the train and validation ones among them.
        var six = rig.Query("SELECT split FROM examples WHERE content_id NOT IN (SELECT content_id FROM quarantine);");
        Assert.Equal(6, six.Count);
        var trained = rig.RunOk("TrainHead").StdOut;
        Assert.Contains($"TrainHead: {six.Count(s => s == "train")} train / {six.Count(s => s == "validation")} validation vectors", trained,
            StringComparison.Ordinal);

        rig.RunOk("Ingest");
        rig.RunOk("Extract");
        var newId = Assert.Single(rig.Query($"SELECT content_id FROM examples WHERE rel_path = '{Rel(data, changed)}';"));
        Assert.NotNull(rig.Vectors()[newId]);
        Assert.Empty(rig.Query($"SELECT content_id FROM examples WHERE rel_path = '{Rel(data, deleted)}';"));
        Assert.Equal(7, rig.ContentIds().Count);
        Assert.DoesNotContain(rig.Vectors().Values, v => v is null);
    }

    [Fact]
    public void An_image_missing_for_one_run_is_used_again_once_it_is_back()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 3);
        var rig = new FaultRig(t["rig"], data);
        rig.RunOk("Ingest");
        var file = Directory.GetFiles(data, "*.jpg", SearchOption.AllDirectories).Order(StringComparer.Ordinal).First();
        File.Move(file, t["away.jpg"]); // a share that was briefly unmounted
        rig.RunOk("Extract");
        Assert.Single(rig.Quarantine());

        File.Move(t["away.jpg"], file);
        rig.RunOk("Ingest");
        rig.RunOk("Extract");
        Assert.Empty(rig.Quarantine());
        Assert.DoesNotContain(rig.Vectors().Values, v => v is null);
        rig.RunOk("TrainHead");
    }

    [Fact]
    public void A_read_only_dataset_is_never_written_by_any_stage()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 3, perClass: 3);
        var rig = new FaultRig(t["rig"], data);
        var before = Snapshot(data);
        Chmod("a-w", data);
        try
        {
            rig.RunAll();
            Assert.Equal(before, Snapshot(data));
        }
        finally
        {
            Chmod("u+w", data);
        }
    }

    private static string Rel(string root, string path) => Path.GetRelativePath(root, path).Replace('\\', '/');

    /// <summary>Every entry under the folder with its size and mtime (root bypasses permission bits, so look).</summary>
    private static List<string> Snapshot(string dir) =>
        [.. new DirectoryInfo(dir).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(i => $"{Path.GetRelativePath(dir, i.FullName)} {(i is FileInfo f ? f.Length : -1)} {i.LastWriteTimeUtc.Ticks}")
            .Order(StringComparer.Ordinal)
            .Prepend($". {new DirectoryInfo(dir).LastWriteTimeUtc.Ticks}")];

    private static void Chmod(string mode, string dir)
    {
        using var p = System.Diagnostics.Process.Start("chmod", ["-R", mode, dir])!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }
}
