using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BottleneckPipeline.Tests.Report;

/// <summary>
/// A real headless Chromium driven over the DevTools protocol (a websocket, JSON commands): open a
/// page, evaluate script in it, click at a point as a mouse does, resize the window, take a screenshot.
/// One page, one command at a time; events are read past and ignored.
/// </summary>
public sealed class HeadlessChromium : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>The browser executable: $BP_CHROMIUM, else chromium (Debian), chromium-browser or google-chrome on the PATH; null when none.</summary>
    public static string? Executable { get; } = Find();

    private readonly Process _process;
    private readonly TempDir _profile;
    private readonly ClientWebSocket _socket = new();
    private readonly StringBuilder _stderr = new();
    private string _session = "";
    private int _nextId;

    private HeadlessChromium(Process process, TempDir profile)
    {
        _process = process;
        _profile = profile;
    }

    public static HeadlessChromium Start(int width = 1100, int height = 900)
    {
        var exe = Executable ?? throw new InvalidOperationException("Chromium is not installed");
        var profile = new TempDir();
        var psi = new ProcessStartInfo(exe) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        // Headless as root needs --no-sandbox; the rest keeps it from reaching the network on its own.
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-extensions", "--hide-scrollbars", "--remote-debugging-port=0",
                     $"--user-data-dir={profile.Path}", $"--window-size={width},{height}", "about:blank" })
            psi.ArgumentList.Add(a);
        var browser = new HeadlessChromium(Process.Start(psi)!, profile);
        browser._process.ErrorDataReceived += (_, e) => { lock (browser._stderr) browser._stderr.AppendLine(e.Data); };
        browser._process.OutputDataReceived += (_, _) => { };
        browser._process.BeginErrorReadLine();
        browser._process.BeginOutputReadLine();
        try
        {
            browser.Connect();
        }
        catch
        {
            browser.Dispose();
            throw;
        }
        return browser;
    }

    /// <summary>Chromium writes its port and browser endpoint to DevToolsActivePort in the profile once it listens.</summary>
    private void Connect()
    {
        var portFile = Path.Combine(_profile.Path, "DevToolsActivePort");
        var deadline = DateTime.UtcNow + Timeout;
        string[] lines = [];
        while (lines.Length < 2)
        {
            if (_process.HasExited) throw new InvalidOperationException($"Chromium exited with {_process.ExitCode}:\n{Stderr}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Chromium did not open its DevTools port:\n{Stderr}");
            Thread.Sleep(50);
            try { lines = File.Exists(portFile) ? File.ReadAllLines(portFile) : []; } catch (IOException) { }
        }
        _socket.Options.KeepAliveInterval = TimeSpan.Zero;
        _socket.ConnectAsync(new Uri($"ws://127.0.0.1:{lines[0].Trim()}{lines[1].Trim()}"), CancellationToken.None).Wait(Timeout);
        var target = Send("Target.createTarget", new JsonObject { ["url"] = "about:blank" }, browserLevel: true)["targetId"]!.GetValue<string>();
        _session = Send("Target.attachToTarget", new JsonObject { ["targetId"] = target, ["flatten"] = true }, browserLevel: true)["sessionId"]!.GetValue<string>();
        Send("Page.enable");
        Send("Runtime.enable");
    }

    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>Opens a page and waits until it has loaded (every image embedded in it included).</summary>
    public void Open(string url)
    {
        Send("Page.navigate", new JsonObject { ["url"] = url });
        var deadline = DateTime.UtcNow + Timeout;
        while (!Evaluate($"location.href === {JsonValue.Create(url).ToJsonString()} && document.readyState === 'complete'").GetValue<bool>())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{url} did not finish loading");
            Thread.Sleep(20);
        }
    }

    /// <summary>The value of a script expression (awaited if it is a promise), as JSON.</summary>
    public JsonNode Evaluate(string expression)
    {
        var result = Send("Runtime.evaluate", new JsonObject { ["expression"] = expression, ["returnByValue"] = true, ["awaitPromise"] = true });
        if (result["exceptionDetails"] is { } error) throw new InvalidOperationException($"script failed: {error.ToJsonString()}");
        return result["result"]!["value"] ?? throw new InvalidOperationException($"script gave no value: {expression}");
    }

    /// <summary>A left click at a point of the viewport, as the mouse sends it: press, then release.</summary>
    public void Click(double x, double y)
    {
        foreach (var type in new[] { "mousePressed", "mouseReleased" })
            Send("Input.dispatchMouseEvent", new JsonObject { ["type"] = type, ["x"] = x, ["y"] = y, ["button"] = "left", ["clickCount"] = 1 });
    }

    /// <summary>Sets the viewport's width and height in CSS pixels, as a narrower window would.</summary>
    public void Resize(int width, int height) =>
        Send("Emulation.setDeviceMetricsOverride", new JsonObject { ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false });

    /// <summary>A PNG of the whole page, beyond the viewport.</summary>
    public byte[] Screenshot() =>
        Convert.FromBase64String(Send("Page.captureScreenshot", new JsonObject { ["format"] = "png", ["captureBeyondViewport"] = true })["data"]!.GetValue<string>());

    /// <summary>
    /// CPU time used so far by the browser and all its child processes (renderer, GPU, network), from
    /// /proc: unlike wall time, it hardly changes when other work shares the machine's cores.
    /// </summary>
    public TimeSpan CpuTime()
    {
        var parents = new Dictionary<int, int>();
        var ticks = new Dictionary<int, long>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            string stat;
            try { stat = File.ReadAllText(Path.Combine(dir, "stat")); } catch (IOException) { continue; } catch (UnauthorizedAccessException) { continue; }
            // Fields after the command name (which may hold spaces), from field 3 on: state, ppid, ... utime (14), stime (15).
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            parents[pid] = int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture);
            ticks[pid] = long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
        }
        var tree = new HashSet<int> { _process.Id };
        for (var grew = true; grew;)
        {
            grew = false;
            foreach (var (pid, parent) in parents)
                if (tree.Contains(parent) && tree.Add(pid)) grew = true;
        }
        const double ticksPerSecond = 100; // USER_HZ on Linux
        return TimeSpan.FromSeconds(tree.Sum(pid => ticks.GetValueOrDefault(pid)) / ticksPerSecond);
    }

    private JsonNode Send(string method, JsonObject? parameters = null, bool browserLevel = false)
    {
        var id = ++_nextId;
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
        if (!browserLevel) message["sessionId"] = _session;
        _socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None).Wait(Timeout);
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            var reply = Receive(deadline - DateTime.UtcNow);
            if (reply["id"]?.GetValue<int>() != id) continue; // an event, or nothing we wait for
            if (reply["error"] is { } error) throw new InvalidOperationException($"{method} failed: {error.ToJsonString()}");
            return reply["result"]!;
        }
    }

    private JsonNode Receive(TimeSpan within)
    {
        if (within <= TimeSpan.Zero) throw new TimeoutException("Chromium did not answer");
        using var cancel = new CancellationTokenSource(within);
        using var message = new MemoryStream();
        var buffer = new byte[1 << 16];
        WebSocketReceiveResult part;
        do
        {
            part = _socket.ReceiveAsync(buffer, cancel.Token).GetAwaiter().GetResult();
            if (part.MessageType == WebSocketMessageType.Close) throw new InvalidOperationException($"Chromium closed the connection:\n{Stderr}");
            message.Write(buffer, 0, part.Count);
        } while (!part.EndOfMessage);
        return JsonNode.Parse(message.ToArray()) ?? throw new JsonException("empty DevTools message");
    }

    public void Dispose()
    {
        _socket.Dispose();
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException) { /* already gone */ }
        _process.Dispose();
        _profile.Dispose();
    }

    private static string? Find()
    {
        if (Environment.GetEnvironmentVariable("BP_CHROMIUM") is { Length: > 0 } configured) return File.Exists(configured) ? configured : null;
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return new[] { "chromium", "chromium-browser", "google-chrome" }
            .SelectMany(name => path.Split(':', StringSplitOptions.RemoveEmptyEntries).Select(dir => Path.Combine(dir, name)))
            .FirstOrDefault(File.Exists);
    }
}

/// <summary>A test that needs Chromium: skipped, with a note saying so, where it is not installed.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (HeadlessChromium.Executable is null)
            Skip = "Chromium is not installed here (apt-get install chromium, or set BP_CHROMIUM): the page is not checked in a browser.";
    }
}
