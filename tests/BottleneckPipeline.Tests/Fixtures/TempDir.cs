namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>A real folder for a test's files, removed afterwards.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("bp-test-").FullName;

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    /// <summary>Deletes the folder, unless BP_KEEP_TEST_DIRS is set: then it stays, to look into after a failure.</summary>
    public void Dispose()
    {
        if (Environment.GetEnvironmentVariable("BP_KEEP_TEST_DIRS") is { Length: > 0 }) return;
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
