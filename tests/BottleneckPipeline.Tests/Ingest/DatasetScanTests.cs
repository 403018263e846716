using BottleneckPipeline.Ingest;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Ingest;

/// <summary>Folder shapes: what is a class, what is skipped, what is refused, and what must not hang.</summary>
public sealed class DatasetScanTests
{
    [Fact]
    public void A_missing_root_is_an_input_error_naming_the_path()
    {
        using var bed = new IngestBed();
        var missing = bed.Dir["nowhere"];
        var e = Assert.Throws<InputException>(() => bed.Run(root: missing));
        Assert.Contains(missing, e.Message);
        Assert.Contains("dataset.root", e.Message);
    }

    [Fact]
    public void A_root_without_class_folders_is_an_input_error()
    {
        using var bed = new IngestBed();
        TestImages.Write(bed.File("loose.png"), 1);
        var e = Assert.Throws<InputException>(() => bed.Run());
        Assert.Contains("no class folders", e.Message);
        Assert.Contains(bed.Root, e.Message);
    }

    [Fact]
    public void Classes_are_ordinal_folder_names_and_images_are_found_recursively()
    {
        using var bed = new IngestBed();
        TestImages.Write(bed.File("b/one.png"), 1);
        TestImages.Write(bed.File("B/deep/er/two.jpg"), 2, "jpeg");
        TestImages.Write(bed.File("a/three.gif"), 3, "gif");
        var r = bed.Run();
        Assert.Equal(["B", "a", "b"], r.Classes);
        Assert.Equal(["0|B", "1|a", "2|b"], bed.Query("SELECT label_id, name FROM classes ORDER BY label_id"));
        Assert.Contains("B/deep/er/two.jpg|B|jpeg", bed.Query("SELECT rel_path, class, format FROM files"));
    }

    [Fact]
    public void Unicode_and_spaces_in_names_are_kept_as_they_are()
    {
        using var bed = new IngestBed();
        TestImages.Write(bed.File("chats noirs/фото 1 été.png"), 1);
        TestImages.Write(bed.File("日本/写真.jpg"), 2, "jpeg");
        var r = bed.Run();
        Assert.Equal(["chats noirs", "日本"], r.Classes);
        Assert.Equal(["chats noirs/фото 1 été.png", "日本/写真.jpg"], bed.Query("SELECT rel_path FROM files ORDER BY rel_path"));
    }

    [Fact]
    public void Hidden_files_and_non_images_are_skipped_and_counted()
    {
        using var bed = new IngestBed();
        TestImages.Write(bed.File("cats/a.png"), 1);
        TestImages.Write(bed.File("cats/.hidden.png"), 2);
        TestImages.Write(bed.File("cats/.thumbs/b.png"), 3);
        File.WriteAllText(bed.File("cats/notes.txt"), "shot in 2019");
        File.WriteAllBytes(bed.File("cats/empty.txt"), []);
        TestImages.Write(bed.File(".git/c.png"), 4);
        TestImages.Write(bed.File("dogs/d.png"), 5);
        var r = bed.Run();
        Assert.Equal(3, r.SkippedHidden); // .hidden.png, .thumbs/, .git/
        Assert.Equal(2, r.SkippedNonImage);
        Assert.Equal(["cats", "dogs"], r.Classes);
        Assert.Equal(["cats/a.png", "dogs/d.png"], r.Files.Select(f => f.RelPath));
        Assert.Empty(r.Rejects);
    }

    [Fact]
    public void A_PNG_named_jpg_is_accepted_as_PNG()
    {
        using var bed = new IngestBed();
        File.Move(TestImages.Write(bed.File("cats/x.png"), 1), bed.File("cats/x.jpg"));
        TestImages.Write(bed.File("dogs/y.gif"), 2, "gif");
        bed.Run();
        Assert.Equal(["cats/x.jpg|png", "dogs/y.gif|gif"], bed.Query("SELECT rel_path, format FROM files ORDER BY rel_path"));
    }

    [Fact]
    public void An_empty_class_folder_is_left_out_with_a_warning_and_a_one_image_class_is_kept()
    {
        using var bed = new IngestBed();
        for (var i = 0; i < 5; i++) TestImages.Write(bed.File($"cats/{i}.png"), i);
        TestImages.Write(bed.File("dogs/only.png"), 99);
        Directory.CreateDirectory(bed.File("empty"));
        var r = bed.Run();
        Assert.Equal(["cats", "dogs"], r.Classes);
        Assert.Contains(r.Warnings, w => w.Contains("empty") && w.Contains("no usable images"));
        // One example can be in one split only, so the class lacks validation or test (or both).
        Assert.Contains(r.Warnings, w => w.StartsWith("class dogs has no"));
    }

    [Fact]
    public async Task Symlink_loops_do_not_hang_and_images_are_counted_once()
    {
        using var bed = new IngestBed();
        TestImages.Write(bed.File("cats/a.png"), 1);
        TestImages.Write(bed.File("cats/sub/b.png"), 2);
        Directory.CreateSymbolicLink(bed.File("cats/sub/up"), "..");
        Directory.CreateSymbolicLink(bed.File("cats/self"), ".");
        Directory.CreateSymbolicLink(bed.File("cats/sub/root"), bed.Root);
        TestImages.Write(bed.File("dogs/c.png"), 3);
        var r = await Task.Run(() => bed.Run()).WaitAsync(TimeSpan.FromSeconds(30)); // throws TimeoutException on a hang
        Assert.Equal(["cats/a.png", "cats/sub/b.png", "dogs/c.png"], r.Files.Select(f => f.RelPath));
        var rejects = r.Rejects.ToDictionary(x => x.RelPath, x => x.Reason);
        foreach (var link in new[] { "cats/sub/up", "cats/self", "cats/sub/root" })
            Assert.Contains("folder link loop", rejects[link]);
    }

    [Fact]
    public void A_link_to_the_dataset_root_in_a_class_is_a_reported_loop_and_every_class_keeps_its_images()
    {
        using var bed = new IngestBed();
        foreach (var (cls, n) in new[] { ("birds", 0), ("cats", 1), ("dogs", 2) })
            for (var i = 0; i < 10; i++) TestImages.Write(bed.File($"{cls}/{i}.png"), n * 100 + i);
        Directory.CreateSymbolicLink(bed.File("cats/everything"), bed.Root);
        Directory.CreateDirectory(bed.File("dogs/deeper"));
        Directory.CreateSymbolicLink(bed.File("dogs/deeper/up"), Path.GetDirectoryName(bed.Root)!); // an ancestor above the root
        var r = bed.Run();

        Assert.Empty(r.Conflicts);
        Assert.All(r.Classes, c => Assert.Equal(10, r.Files.Count(f => f.Class == c)));
        Assert.Empty(r.ClassesWithoutTraining);
        Assert.All(r.Classes, c => Assert.Contains(r.UsableExamples, e => e.Class == c && e.Split == Splits.Train));
        var rejects = r.Rejects.ToDictionary(x => x.RelPath, x => x.Reason);
        Assert.Contains("folder link loop", rejects["cats/everything"]);
        Assert.Contains("folder link loop", rejects["dogs/deeper/up"]);
        // Told to the user: on the console (the lines Ingest prints), in reports/ingest.json and in the index.
        Assert.Contains(IngestReport.Details(r), l => l.StartsWith("  rejected cats/everything: folder link loop"));
        var json = IngestReport.ToJson(r);
        Assert.Contains(json["rejects"]!.AsArray(), x => (string?)x!["path"] == "cats/everything" && ((string?)x["reason"])!.Contains("loop"));
        Assert.Contains(bed.Query("SELECT rel_path, reason FROM rejects"), x => x.StartsWith("cats/everything|folder link loop"));
    }

    [Fact]
    public void A_link_into_another_class_is_rejected_and_a_link_outside_the_dataset_is_followed()
    {
        using var bed = new IngestBed();
        TestImages.Write(bed.File("cats/a.png"), 1);
        TestImages.Write(bed.File("dogs/b.png"), 2);
        TestImages.Write(bed.File("dogs/puppies/c.png"), 3);
        TestImages.Write(bed.Dir["elsewhere/more cats/d.png"], 4);
        Directory.CreateSymbolicLink(bed.File("cats/dogs"), bed.File("dogs"));
        Directory.CreateSymbolicLink(bed.File("cats/puppies"), bed.File("dogs/puppies"));
        Directory.CreateSymbolicLink(bed.File("cats/more"), bed.Dir["elsewhere/more cats"]);
        Directory.CreateSymbolicLink(bed.File("kittens"), bed.File("cats")); // a class folder that is another class
        var r = bed.Run();

        Assert.Equal(["cats", "dogs"], r.Classes);
        Assert.Equal(["cats/a.png", "cats/more/d.png", "dogs/b.png", "dogs/puppies/c.png"], r.Files.Select(f => f.RelPath));
        Assert.Empty(r.Conflicts);
        var rejects = r.Rejects.ToDictionary(x => x.RelPath, x => x.Reason);
        Assert.Contains("into class dogs's folder", rejects["cats/dogs"]);
        Assert.Contains("into class dogs's folder", rejects["cats/puppies"]);
        Assert.Contains("to class cats's folder", rejects["kittens"]);
    }

    [Fact]
    public async Task Bad_files_are_rejected_with_reasons_and_the_run_goes_on()
    {
        using var bed = new IngestBed();
        TestImages.Write(bed.File("cats/good.png"), 1);
        TestImages.Write(bed.File("dogs/good.png"), 4);
        File.WriteAllBytes(bed.File("cats/empty.jpg"), []);
        File.WriteAllText(bed.File("cats/fake.jpg"), "not an image");
        File.WriteAllBytes(bed.File("cats/huge.png"), TestImages.PngHeader(100_000, 100_000));
        TestImages.Write(bed.File("cats/big.png"), 2, "png", 50, 50);
        TestImages.MakeFifo(bed.File("cats/pipe.jpg"));
        File.CreateSymbolicLink(bed.File("cats/broken.jpg"), bed.File("cats/gone.jpg"));
        File.CreateSymbolicLink(bed.File("cats/loop.jpg"), bed.File("cats/loop.jpg"));
        var locked = TestImages.Write(bed.File("cats/locked.png"), 3);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(locked, UnixFileMode.None);

        // A FIFO opened for reading blocks until a writer comes: a timeout here means it was opened.
        var r = await Task.Run(() => bed.Run(d => d.MaxPixels = 2000)).WaitAsync(TimeSpan.FromSeconds(30));
        var reasons = r.Rejects.ToDictionary(x => x.RelPath, x => x.Reason);
        Assert.Contains("0 bytes", reasons["cats/empty.jpg"]);
        Assert.Contains("not an image", reasons["cats/fake.jpg"]);
        Assert.Contains("too large: 100000x100000", reasons["cats/huge.png"]);
        Assert.Contains("too large: 50x50", reasons["cats/big.png"]);
        Assert.Contains("not a regular file", reasons["cats/pipe.jpg"]);
        Assert.Contains("unreadable", reasons["cats/broken.jpg"]);
        Assert.Contains("unreadable", reasons["cats/loop.jpg"]);
        // root reads a mode-000 file anyway (CAP_DAC_OVERRIDE); anyone else gets it refused as unreadable.
        if (TestImages.RunningAsRoot) Assert.Contains(r.Files, f => f.RelPath == "cats/locked.png");
        else Assert.Contains("permission denied", reasons["cats/locked.png"]);
        Assert.Contains(r.Files, f => f.RelPath == "cats/good.png");
        Assert.Equal(r.Rejects.Select(x => $"{x.RelPath}|{x.Reason}"), bed.Query("SELECT rel_path, reason FROM rejects ORDER BY rel_path"));
    }
}
