using System.Security.Cryptography;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Config;
using BottleneckPipeline.Embedding;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Embedding;

/// <summary>
/// ImagePreparer's read retry (Polly) against a real transient IO failure: the image file is
/// locked exclusively (flock, what .NET's FileShare.None takes on Linux), so every read attempt
/// fails with an IOException until the lock is released. Attempts are counted as the reader's
/// read-only closes of the file (inotify), so the test waits on events, not on durations.
/// </summary>
public class ImageReadRetryTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly ImagePreparer _preparer;
    private readonly BackboneSpec _spec;
    private readonly ImageWork _work;

    public ImageReadRetryTests()
    {
        var data = TestIndex.CopyFlowers(_dir["data"], classes: 1, perClass: 1);
        var config = TestIndex.Config(_dir["run"], data);
        _spec = BackboneFactory.Resolve(config);
        _preparer = new ImagePreparer(_spec, config.Dataset.MaxPixels);
        var file = Directory.GetFiles(data, "*.jpg", SearchOption.AllDirectories).Single();
        _work = new ImageWork(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file))), file, Path.GetFileName(file));
    }

    [Fact]
    public async Task A_read_that_fails_while_the_file_is_locked_is_retried_and_succeeds_once_it_is_released()
    {
        var pixels = new float[_spec.ValuesPerImage];
        Task<ImageFailure?> prepare;
        int failedWhileLocked;
        // Opened for writing so that its own close is not counted as a reader's attempt.
        using (var holder = new FileStream(_work.Path, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        using (var watch = new FileWatch(_work.Path))
        {
            prepare = Task.Run(() => _preparer.Prepare(_work, pixels));
            watch.WaitUntil(w => w.Count(FileEvent.ClosedReadOnly) >= 1 || prepare.IsCompleted, "the first read attempt");
            failedWhileLocked = watch.Count(FileEvent.ClosedReadOnly);
            if (prepare.IsCompleted) Assert.Fail($"Prepare gave up after {failedWhileLocked} attempt(s) on a locked file: {Outcome(prepare)}");
        }
        var reason = await prepare.WaitAsync(TimeSpan.FromMinutes(1));

        Assert.True(failedWhileLocked >= 1, "no read attempt failed while the file was locked");
        Assert.Null(reason); // read, hashed, decoded: the image is not quarantined
        Assert.Contains(pixels, v => v != 0);
        Assert.Equal(1, _preparer.Decoded);
    }

    [Fact]
    public async Task A_file_that_stays_locked_is_retried_a_few_times_then_stops_the_run_naming_it()
    {
        var pixels = new float[_spec.ValuesPerImage];
        using var holder = new FileStream(_work.Path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        using var watch = new FileWatch(_work.Path);
        var prepare = Task.Run(() => _preparer.Prepare(_work, pixels));
        // Bounded: an endless retry fails here instead of hanging the suite.
        var e = await Assert.ThrowsAsync<InputException>(() => prepare.WaitAsync(TimeSpan.FromMinutes(1)));

        Assert.Contains(_work.Path, e.Message);
        Assert.Equal(ExitCodes.BadInput, e.ExitCode);
        Assert.InRange(watch.Count(FileEvent.ClosedReadOnly), 2, 10); // retried, but not forever
        Assert.Equal(0, _preparer.Decoded);
    }

    private static string Outcome(Task<ImageFailure?> t) => t.IsFaulted ? t.Exception!.InnerException!.Message : $"returned '{t.Result}'";

    public void Dispose() => _dir.Dispose();
}
